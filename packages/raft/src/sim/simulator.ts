/**
 * A seeded, deterministic simulator for the Raft core: N members in virtual time, a network that loses, duplicates,
 * delays and reorders messages and can be partitioned (symmetrically or one way), members that crash and recover
 * from an in-memory "durable" store holding exactly what they persisted through Ready, members that pause, leader
 * transfers and membership changes during faults, and clients that put/get/cas with timeouts. The clients' history
 * goes to the linearizability checker; safety invariants are checked as the run goes.
 */

import { type KvInput, type KvOperation, type KvOutput, kvModel } from '../checker/kv-model.js'
import { type CheckResult, checkLinearizable } from '../checker/linearizability.js'
import { decodeMessage, encodeMessage } from '../codec.js'
import { NotLeaderError } from '../errors.js'
import { FAULT_FREE_TAIL_MS } from '../limits.js'
import { createRaftCore, type RaftCore, type RaftCoreInit } from '../raft.js'
import type { DurableState, Entry, HardState, Message, Ready } from '../types.js'
import { encodeReadyRecords, recoverLog } from '../wal.js'
import { EventQueue } from './event-queue.js'
import {
  checkLogMatching,
  createInvariantState,
  type InvariantState,
  onApplied,
  onLeader,
  sameEntry,
} from './invariants.js'
import { createRng, type Rng } from './random.js'

export interface SimFaults {
  /** probability a message is lost */
  loss: number
  /** probability a message is delivered twice */
  duplicate: number
  /** one-way delay range in ms; the spread reorders messages */
  delayMs: [number, number]
  /** mean ms between fault actions (partition, crash, pause, membership change, transfer, heal) */
  faultEveryMs: number
  partitions: boolean
  crashes: boolean
  pauses: boolean
  membership: boolean
  transfers: boolean
  /** probability that a member dies in the middle of persisting a Ready (only a prefix reaches the disk) */
  tornWrite: number
  /** how long a paused member stays paused, ms */
  pauseMs: [number, number]
}

export interface SimOptions {
  seed: number
  /** members, all voters at bootstrap (default 5) */
  members?: number
  /** virtual ms of faults and client load; a fault-free tail follows (default 6000) */
  durationMs?: number
  clients?: number
  keys?: number
  tickMs?: number
  electionTicks?: number
  /** client timeout in virtual ms; a write that times out is ambiguous (default 800) */
  opTimeoutMs?: number
  faults?: Partial<SimFaults>
  unsafe?: RaftCoreInit['unsafe']
  /** send every message through the wire codec (encode, then strict decode) */
  codec?: boolean
  /** collect a human-readable trace of fault actions */
  trace?: boolean
}

export interface SimResult {
  seed: number
  /** every operation that may have taken effect (definite failures are left out) */
  history: KvOperation[]
  /** invariant violations and the checker's verdict if illegal; empty when the run is correct */
  violations: string[]
  check: CheckResult<KvInput, KvOutput>
  stats: {
    ok: number
    /** operations that completed in the fault-free tail: the group recovered (liveness) */
    okAfterHeal: number
    ambiguous: number
    failed: number
    messages: number
    dropped: number
    elections: number
    crashes: number
    /** membership changes proposed */
    confChanges: number
    /** membership changes committed (including the leaders' automatic promotions) */
    confCommitted: number
    maxTerm: number
    maxCommit: number
  }
  trace: string[]
}

export { FAULT_FREE_TAIL_MS }

export const DEFAULT_SIM_FAULTS: SimFaults = {
  loss: 0.02,
  duplicate: 0.02,
  delayMs: [1, 15],
  faultEveryMs: 400,
  partitions: true,
  crashes: true,
  pauses: true,
  membership: true,
  transfers: true,
  tornWrite: 0.001,
  pauseMs: [100, 1200],
}

interface PendingOp {
  op: KvOperation
  done: boolean
  failed: boolean
  client: Client
}

interface Client {
  id: number
  hint: number
  seq: number
  lastSeen: Map<string, string | null>
}

interface SimNode {
  id: string
  n: number
  core: RaftCore | undefined
  durable: { hardState: HardState; entries: Entry[] }
  kv: Map<string, string>
  applied: number
  writes: Map<number, { opId: number; pending: PendingOp }>
  reads: Map<number, PendingOp>
  readyReads: { index: number; pending: PendingOp }[]
  pausedUntil: number
  inbox: Message[]
  /** the member's write-ahead log, as appended (chunks); recovery reads it back on restart */
  wal: Uint8Array[]
  tornSinceStart: boolean
  clientQueue: (() => void)[]
  rng: Rng
}

function sameDurable(a: DurableState, b: DurableState): boolean {
  const h = a.hardState
  const k = b.hardState
  if (h.term !== k.term || h.vote !== k.vote || h.commit !== k.commit) return false
  return a.entries.length === b.entries.length && a.entries.every((e, i) => sameEntry(e, b.entries[i]!))
}

/**
 * Run one seeded simulation. Same seed and options, same run.
 *
 * @example
 * ```ts
 * const r = runSimulation({ seed: 7 })
 * if (r.violations.length > 0) console.error(r.violations)
 * ```
 */
export function runSimulation(options: SimOptions): SimResult {
  const faults = { ...DEFAULT_SIM_FAULTS, ...options.faults }
  const rng = createRng(options.seed)
  const q = new EventQueue()
  const tickMs = options.tickMs ?? 50
  const duration = options.durationMs ?? 6000
  const opTimeout = options.opTimeoutMs ?? 800
  const ids = Array.from({ length: options.members ?? 5 }, (_, i) => `n${i + 1}`)
  const keys = Array.from({ length: options.keys ?? 4 }, (_, i) => `k${i}`)
  const inv: InvariantState = createInvariantState()
  const trace: string[] = []
  const log = (s: string) => {
    if (options.trace === true) trace.push(`${q.now.toFixed(0).padStart(6)} ${s}`)
  }
  const stats: SimResult['stats'] = {
    ok: 0,
    okAfterHeal: 0,
    ambiguous: 0,
    failed: 0,
    messages: 0,
    dropped: 0,
    elections: 0,
    crashes: 0,
    confChanges: 0,
    confCommitted: 0,
    maxTerm: 0,
    maxCommit: 0,
  }
  const commands = new Map<number, KvInput>()
  let opSeq = 0
  let clock = 0
  const history: PendingOp[] = []

  const blocked = new Set<string>()
  const faultsActive = () => q.now < duration

  const newCore = (node: SimNode): RaftCore =>
    createRaftCore({
      id: node.id,
      voters: ids,
      durable: {
        hardState: { ...node.durable.hardState },
        entries: node.durable.entries.slice(),
      },
      electionTicks: options.electionTicks ?? 6,
      random: node.rng.next,
      unsafe: options.unsafe,
    })

  const nodes: SimNode[] = ids.map((id, n) => {
    const node: SimNode = {
      id,
      n,
      core: undefined,
      durable: { hardState: { term: 0, vote: '', commit: 0 }, entries: [] },
      kv: new Map(),
      applied: 0,
      writes: new Map(),
      reads: new Map(),
      readyReads: [],
      pausedUntil: 0,
      inbox: [],
      wal: [],
      tornSinceStart: false,
      clientQueue: [],
      rng: rng.fork(),
    }
    node.core = newCore(node)
    return node
  })
  const byId = new Map(nodes.map(n => [n.id, n]))

  // ---- network

  const deliver = (m: Message) => {
    const node = byId.get(m.to)!
    if (node.core === undefined) return
    if (node.pausedUntil > q.now) {
      node.inbox.push(m)
      return
    }
    node.core.step(m)
    drive(node)
  }

  const send = (sent: Message) => {
    const m = options.codec === true ? decodeMessage(encodeMessage(sent)) : sent
    stats.messages++
    if (blocked.has(`${m.from}>${m.to}`) || rng.chance(faults.loss)) {
      stats.dropped++
      return
    }
    const [lo, hi] = faults.delayMs
    q.after(lo + rng.next() * (hi - lo), () => deliver(m))
    if (rng.chance(faults.duplicate)) q.after(lo + rng.next() * (hi - lo), () => deliver(m))
  }

  // ---- the host loop: persist, then send, then apply

  const finish = (p: PendingOp, output: KvOutput) => {
    if (p.done) return
    p.done = true
    p.op.output = output
    p.op.return = clock++
    stats.ok++
    if (q.now > duration) stats.okAfterHeal++
    if (p.op.input.op === 'get') p.client.lastSeen.set(p.op.input.key, output.value ?? null)
    if (p.op.input.op === 'put') p.client.lastSeen.set(p.op.input.key, p.op.input.value)
    if (p.op.input.op === 'cas' && output.ok === true) p.client.lastSeen.set(p.op.input.key, p.op.input.to)
    scheduleNext(p.client)
  }

  const fail = (p: PendingOp) => {
    if (p.done) return
    p.done = true
    p.failed = true
    stats.failed++
    scheduleNext(p.client)
  }

  const applyEntry = (node: SimNode, e: Entry): void => {
    node.applied = e.index
    const waiting = node.writes.get(e.index)
    if (waiting !== undefined) node.writes.delete(e.index)
    if (e.conf !== undefined || e.data.length === 0) {
      if (waiting !== undefined) fail(waiting.pending)
      return
    }
    const opId = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength).getUint32(0)
    const cmd = commands.get(opId)!
    let out: KvOutput = {}
    if (cmd.op === 'put') node.kv.set(cmd.key, cmd.value)
    else if (cmd.op === 'cas') {
      const cur = node.kv.get(cmd.key) ?? null
      out = { ok: cur === cmd.from }
      if (cur === cmd.from) node.kv.set(cmd.key, cmd.to)
    }
    if (waiting !== undefined) {
      // a different entry at our index means our proposal was overwritten: it can never commit
      if (waiting.opId === opId) finish(waiting.pending, out)
      else fail(waiting.pending)
    }
  }

  const serveReads = (node: SimNode) => {
    if (node.readyReads.length === 0) return
    const still: SimNode['readyReads'] = []
    for (const r of node.readyReads) {
      if (r.index <= node.applied) {
        const input = r.pending.op.input
        finish(r.pending, { value: node.kv.get(input.key) ?? null })
      } else still.push(r)
    }
    node.readyReads = still
  }

  const drive = (node: SimNode) => {
    const core = node.core
    if (core === undefined) return
    while (core.hasReady()) {
      const rd: Ready = core.ready()
      // 1. durable first: entries, then the hard state (so a durable commit index never outruns durable entries)
      const records = encodeReadyRecords(rd.hardState, rd.entries)
      if (faultsActive() && faults.crashes && rng.chance(faults.tornWrite)) {
        // the process dies mid-write: a prefix of the bytes reaches the disk, perhaps with garbage in the last
        // sector; nothing is sent or applied. Recovery must find the tear by checksum and truncate it.
        const kept = records.slice(0, rng.int(0, records.length))
        if (kept.length > 0 && rng.chance(0.3)) kept[rng.int(Math.max(0, kept.length - 512), kept.length - 1)]! ^= 0xff
        node.wal.push(kept)
        node.tornSinceStart = true
        log(`torn write: ${node.id} dies after ${kept.length}/${records.length} bytes of a Ready`)
        crash(node)
        q.after(rng.int(100, 1500), () => restart(node))
        return
      }
      if (records.length > 0) node.wal.push(records)
      if (rd.entries.length > 0) {
        node.durable.entries.length = rd.entries[0]!.index - 1
        for (const e of rd.entries) node.durable.entries.push(e)
      }
      if (rd.hardState !== undefined) node.durable.hardState = { ...rd.hardState }
      if (rd.soft !== undefined) {
        stats.maxTerm = Math.max(stats.maxTerm, rd.soft.term)
        if (rd.soft.role === 'leader') {
          stats.elections++
          log(`${node.id} leader of term ${rd.soft.term}`)
          onLeader(inv, node.id, rd.soft.term, node.durable.entries)
        }
      }
      // 2. then send
      for (const m of rd.messages) send(m)
      // 3. then apply
      for (const e of rd.committed) {
        if (e.conf !== undefined && inv.committed[e.index] === undefined) stats.confCommitted++
        onApplied(inv, node.id, e)
        applyEntry(node, e)
      }
      stats.maxCommit = Math.max(stats.maxCommit, node.applied)
      for (const rs of rd.readStates) {
        const p = node.reads.get(rs.id)
        if (p === undefined) continue
        node.reads.delete(rs.id)
        node.readyReads.push({ index: rs.index, pending: p })
      }
      serveReads(node)
      core.advance(rd)
    }
  }

  // ---- clients

  let clientsStop = duration
  const clients: Client[] = []

  const scheduleNext = (c: Client) => {
    q.after(rng.int(0, 20), () => issue(c))
  }

  const retryElsewhere = (c: Client, hint: string) => {
    const h = hint === '' ? -1 : ids.indexOf(hint)
    c.hint = h >= 0 ? h : rng.int(0, nodes.length - 1)
    q.after(rng.int(1, 20), () => issue(c))
  }

  const issue = (c: Client) => {
    if (q.now >= clientsStop) return
    const node = nodes[c.hint]!
    // a crashed member refuses the connection: nothing was sent, nothing recorded
    if (node.core === undefined) return retryElsewhere(c, '')
    const key = rng.pick(keys)
    const r = rng.next()
    let input: KvInput
    if (r < 0.4) input = { op: 'get', key }
    else if (r < 0.8) input = { op: 'put', key, value: `c${c.id}.${c.seq++}` }
    else input = { op: 'cas', key, from: c.lastSeen.get(key) ?? null, to: `c${c.id}.${c.seq++}` }

    const op: KvOperation = { client: c.id, input, call: clock++, return: undefined, output: undefined }
    const pending: PendingOp = { op, done: false, failed: false, client: c }
    history.push(pending)
    q.after(opTimeout, () => {
      if (pending.done) return
      pending.done = true
      if (input.op === 'get') {
        // a read that never answered had no effect: leave it out
        pending.failed = true
        stats.failed++
      } else {
        stats.ambiguous++
      }
      c.hint = rng.int(0, nodes.length - 1)
      scheduleNext(c)
    })
    // a paused member holds the request in its socket buffer and serves it when it resumes
    if (node.pausedUntil > q.now) node.clientQueue.push(() => submit(node, pending))
    else submit(node, pending)
  }

  const submit = (node: SimNode, pending: PendingOp) => {
    if (pending.done) return
    const core = node.core
    const refuse = (hint: string) => {
      pending.done = true
      pending.failed = true
      stats.failed++
      retryElsewhere(pending.client, hint)
    }
    if (core === undefined) return refuse('')
    const input = pending.op.input
    try {
      if (input.op === 'get') {
        node.reads.set(core.readIndex(), pending)
      } else {
        const opId = ++opSeq
        commands.set(opId, input)
        const data = new Uint8Array(4)
        new DataView(data.buffer).setUint32(0, opId)
        node.writes.set(core.propose(data), { opId, pending })
      }
    } catch (err) {
      return refuse(err instanceof NotLeaderError ? err.leader : '')
    }
    drive(node)
  }

  for (let i = 0; i < (options.clients ?? 4); i++) {
    const c: Client = { id: i, hint: rng.int(0, nodes.length - 1), seq: 0, lastSeen: new Map() }
    clients.push(c)
    q.at(rng.int(0, 200), () => issue(c))
  }

  // ---- time

  for (const node of nodes) {
    const tick = () => {
      q.after(tickMs, tick)
      if (node.core === undefined || node.pausedUntil > q.now) return
      node.core.tick()
      drive(node)
    }
    q.at(rng.next() * tickMs, tick)
  }

  // ---- faults

  const leaderNode = (): SimNode | undefined => {
    let best: SimNode | undefined
    let bestTerm = -1
    for (const n of nodes) {
      const s = n.core?.status()
      if (s?.role === 'leader' && s.term > bestTerm && n.pausedUntil <= q.now) {
        best = n
        bestTerm = s.term
      }
    }
    return best
  }

  const crash = (node: SimNode) => {
    if (node.core === undefined) return
    stats.crashes++
    log(`crash ${node.id}`)
    node.core = undefined
    node.kv = new Map()
    node.applied = 0
    node.writes.clear()
    node.reads.clear()
    node.readyReads = []
    node.inbox = []
    node.clientQueue = []
    node.pausedUntil = 0
  }

  const restart = (node: SimNode) => {
    if (node.core !== undefined) return
    log(`restart ${node.id}`)
    const bytes = new Uint8Array(node.wal.reduce((n, c) => n + c.length, 0))
    let at = 0
    for (const c of node.wal) {
      bytes.set(c, at)
      at += c.length
    }
    const recovered = recoverLog(bytes)
    node.wal = [bytes.subarray(0, recovered.validLength)]
    if (!node.tornSinceStart && !sameDurable(recovered.state, node.durable)) {
      inv.violations.push(`storage: ${node.id} recovered a different state from its log than it persisted`)
    }
    if (
      node.tornSinceStart &&
      recovered.stopped === undefined &&
      bytes.length > 0 &&
      recovered.validLength !== bytes.length
    ) {
      inv.violations.push(`storage: ${node.id} recovery stopped early without saying why`)
    }
    node.tornSinceStart = false
    node.durable = recovered.state
    node.core = newCore(node)
    drive(node)
  }

  const resume = (node: SimNode) => {
    if (node.pausedUntil > q.now || node.core === undefined) return
    const inbox = node.inbox
    const requests = node.clientQueue
    node.inbox = []
    node.clientQueue = []
    const peers = () => {
      for (const m of inbox) {
        if (node.core === undefined) return
        node.core.step(m)
        drive(node)
      }
    }
    // a resumed process reads its sockets in no particular order: clients first half the time
    const clientsFirst = rng.chance(0.5)
    if (!clientsFirst) peers()
    for (const run of requests) run()
    if (clientsFirst) peers()
  }

  const faultAction = () => {
    const actions: (() => void)[] = []
    if (faults.partitions) {
      actions.push(() => {
        blocked.clear()
        const side = new Set(ids.filter(() => rng.chance(0.5)))
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) blocked.add(`${a}>${b}`)
        log(`partition ${[...side].join(',')} | ${ids.filter(i => !side.has(i)).join(',')}`)
      })
      actions.push(() => {
        const a = rng.pick(ids)
        const inbound = rng.chance(0.5)
        for (const b of ids) if (b !== a) blocked.add(inbound ? `${b}>${a}` : `${a}>${b}`)
        log(`asymmetric: ${a} ${inbound ? 'hears nobody' : 'is heard by nobody'}`)
      })
      actions.push(() => {
        blocked.clear()
        log('heal')
      })
    }
    if (faults.crashes) {
      actions.push(() => {
        const node = rng.pick(nodes)
        crash(node)
        q.after(rng.int(100, 1500), () => restart(node))
      })
      actions.push(() => {
        const node = leaderNode()
        if (node === undefined) return
        crash(node)
        q.after(rng.int(100, 1500), () => restart(node))
      })
    }
    if (faults.pauses) {
      const pause = (node: SimNode | undefined) => {
        if (node?.core === undefined) return
        const ms = rng.int(faults.pauseMs[0], faults.pauseMs[1])
        node.pausedUntil = Math.max(node.pausedUntil, q.now + ms)
        log(`pause ${node.id} ${ms}ms`)
        q.after(ms, () => resume(node))
      }
      actions.push(() => pause(rng.pick(nodes)))
      // a paused leader (a long GC pause, SIGSTOP) wakes up deposed without knowing it
      actions.push(() => pause(leaderNode()))
    }
    if (faults.membership) {
      const change = () => {
        const leader = leaderNode()
        if (leader?.core === undefined) return
        const { voters, learners } = leader.core.status().membership
        const removed = ids.filter(i => !voters.includes(i) && !learners.includes(i))
        try {
          if (removed.length > 0 && (voters.length <= 3 || rng.chance(0.5))) {
            const back = rng.pick(removed)
            leader.core.addServer(back)
            log(`add ${back} (via ${leader.id})`)
            stats.confChanges++
          } else if (voters.length > 3) {
            const out = rng.pick(voters)
            leader.core.removeServer(out)
            log(`remove ${out} (via ${leader.id})`)
            stats.confChanges++
          }
        } catch {
          // refused (one change at a time): try again at a later fault action
        }
        drive(leader)
      }
      actions.push(change, change)
    }
    if (faults.transfers) {
      actions.push(() => {
        const leader = leaderNode()
        if (leader?.core === undefined) return
        const others = leader.core.status().membership.voters.filter(v => v !== leader.id)
        if (others.length === 0) return
        const target = rng.pick(others)
        try {
          leader.core.transferLeader(target)
          log(`transfer ${leader.id} → ${target}`)
        } catch {
          // not possible now
        }
        drive(leader)
      })
    }
    if (actions.length > 0) rng.pick(actions)()
  }

  const scheduleFault = () => {
    q.after(rng.int(faults.faultEveryMs / 2, faults.faultEveryMs * 1.5), () => {
      if (q.now >= duration) return
      faultAction()
      scheduleFault()
    })
  }
  scheduleFault()

  // a fault-free tail: everything heals and restarts, clients' last operations resolve
  q.at(duration, () => {
    blocked.clear()
    for (const n of nodes) {
      restart(n)
      if (n.pausedUntil > q.now) {
        n.pausedUntil = 0
        resume(n)
      }
    }
    log('final heal')
  })
  clientsStop = duration + FAULT_FREE_TAIL_MS
  const end = clientsStop + 2 * opTimeout + 100
  const checkEvery = 500
  for (let t = checkEvery; t <= end; t += checkEvery) {
    q.at(t, () =>
      checkLogMatching(
        inv,
        nodes.map(n => ({ id: n.id, entries: n.durable.entries })),
      ),
    )
  }
  q.runUntil(end)
  checkLogMatching(
    inv,
    nodes.map(n => ({ id: n.id, entries: n.durable.entries })),
  )

  const ops = history.filter(p => !p.failed).map(p => p.op)
  const violations = [...inv.violations]
  const check = checkLinearizable(kvModel, ops)
  if (check.result === 'illegal') {
    const culprit = check.culprit === undefined ? '' : `; first stuck at ${kvModel.describe!(check.culprit)}`
    violations.push(`linearizability: key ${check.partition[0]?.input.key} (${check.partition.length} ops)${culprit}`)
  }
  return { seed: options.seed, history: ops, violations, check, stats, trace }
}
