/**
 * A discrete-event, virtual-time simulator for the membership state machine: N machines (swim/machine.ts, the
 * same code a live node runs) over a message network with latency, jitter, loss, partitions, crashed members
 * (SIGKILL: no goodbye, messages to them vanish), slow members (messages handled late, timers on time) and paused members (SIGSTOP: no ticks; messages wait in a bounded
 * inbox, like a socket buffer, and are handled after the timers that fell due while paused, as a resumed process
 * sees them). One seed gives one run, exactly.
 *
 * @example
 * ```ts
 * import { createSwimSim } from '@pnet/cluster/sim'
 *
 * const sim = createSwimSim({ size: 16, seed: 1 })
 * sim.runUntil(() => sim.converged(), 60_000)
 * sim.crash(3)
 * sim.onEvent((observer, e) => { if (e.type === 'dead') console.log(observer, 'sees', e.member.id, 'dead at', e.at) })
 * sim.runFor(30_000)
 * ```
 */
import type { SwimConfig } from '../limits.js'
import { createSwim, type MembershipEvent, type Swim } from '../swim/machine.js'
import type { SwimMessage } from '../swim/messages.js'
import { seededRandom } from './prng.js'

export interface SwimSimOptions {
  size: number
  seed: number
  /** one-way latency, ms (default 1) */
  latencyMs?: number
  /** extra uniform random latency in [0, jitterMs) (default 1) */
  jitterMs?: number
  /** probability that a message is lost (default 0) */
  loss?: number
  config?: Partial<SwimConfig>
  /** messages a paused member buffers; later ones are dropped (default 256, a small UDP socket buffer) */
  pausedInboxLimit?: number
}

export interface SimMember {
  index: number
  id: string
  address: string
  machine: Swim
  crashed: boolean
  paused: boolean
}

export interface SimStats {
  messages: number
  dropped: number
  /** messages by type */
  byType: Record<string, number>
}

type Listener = (observer: number, event: MembershipEvent) => void

interface QueueItem {
  at: number
  order: number
  run: () => void
}

/** binary min-heap on (at, order) */
class EventQueue {
  #heap: QueueItem[] = []
  #order = 0
  get size() {
    return this.#heap.length
  }
  peek(): QueueItem | undefined {
    return this.#heap[0]
  }
  push(at: number, run: () => void): void {
    const h = this.#heap
    h.push({ at, order: this.#order++, run })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }
  pop(): QueueItem | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
  #less(a: QueueItem, b: QueueItem) {
    return a.at < b.at || (a.at === b.at && a.order < b.order)
  }
}

export interface SwimSim {
  readonly members: readonly SimMember[]
  readonly now: number
  readonly stats: SimStats
  onEvent(listener: Listener): void
  runFor(ms: number): void
  /** runs until `done()` (checked every `checkEveryMs`, default 100) or `maxMs` passed; returns whether done */
  runUntil(done: () => boolean, maxMs: number, checkEveryMs?: number): boolean
  /** every member that is not crashed sees every other one that is not crashed as alive */
  converged(): boolean
  crash(i: number): void
  /** a crashed member comes back with the same ID (a fresh machine at incarnation 0), joining through `seed` */
  restart(i: number, options?: { address?: string; seed?: number }): void
  /**
   * member i handles every message `delayMs` after it arrives (0 = normal), while its timers stay on time: the
   * starved-but-running member of the Lifeguard paper, whose own probes seem to fail
   */
  slow(i: number, delayMs: number): void
  pause(i: number): void
  resume(i: number): void
  /** members in different groups cannot reach each other; members in no group reach everyone in no group */
  partition(groups: readonly (readonly number[])[]): void
  heal(): void
  leave(i: number): void
  updateMeta(i: number, tags: Record<string, string>): void
}

/**
 * A simulation of `size` members that all join through member 0 at time 0 (staggered by a few ms).
 *
 * @example
 * ```ts
 * const sim = createSwimSim({ size: 64, seed: 7, loss: 0.01 })
 * ```
 */
export function createSwimSim(options: SwimSimOptions): SwimSim {
  const random = seededRandom(options.seed)
  const latency = options.latencyMs ?? 1
  const jitter = options.jitterMs ?? 1
  const loss = options.loss ?? 0
  const inboxLimit = options.pausedInboxLimit ?? 256
  const queue = new EventQueue()
  const listeners: Listener[] = []
  const members: SimMember[] = []
  const byAddress = new Map<string, number>()
  const tickAt: number[] = []
  const inbox: { from: { id: string; address: string }; message: SwimMessage }[][] = []
  let group: number[] | undefined
  /** extra delay before a slow member handles what it receives (a CPU-starved process that still runs timers) */
  const slowBy: number[] = []
  let now = 0
  const stats: SimStats = { messages: 0, dropped: 0, byType: {} }

  const machineFor = (i: number, id: string, address: string) =>
    createSwim({
      id,
      address,
      now,
      random: seededRandom(options.seed * 7919 + i * 104729 + now),
      ...(options.config ? { config: options.config } : {}),
    })

  const handle = (i: number, output: ReturnType<Swim['tick']>) => {
    const m = members[i]!
    for (const e of output.events) for (const l of listeners) l(i, e)
    for (const o of output.send) {
      stats.messages++
      stats.byType[o.message.type] = (stats.byType[o.message.type] ?? 0) + 1
      const to = byAddress.get(o.address)
      if (to === undefined || random() < loss || (group !== undefined && group[i] !== group[to])) {
        stats.dropped++
        continue
      }
      const from = { id: m.id, address: m.address }
      const at = now + latency + random() * jitter + (slowBy[to] ?? 0)
      queue.push(at, () => deliver(to, from, o.message))
    }
    schedule(i)
  }

  const schedule = (i: number) => {
    const m = members[i]!
    if (m.crashed || m.paused) return
    const t = Math.max(m.machine.nextDeadline(), now + 1e-3)
    if (tickAt[i] !== undefined && tickAt[i]! <= t) return
    tickAt[i] = t
    queue.push(t, () => {
      if (tickAt[i] !== t || m.crashed || m.paused) return
      tickAt[i] = undefined as unknown as number
      handle(i, m.machine.tick(now))
    })
  }

  const deliver = (to: number, from: { id: string; address: string }, message: SwimMessage) => {
    const m = members[to]!
    if (m.crashed) {
      stats.dropped++
      return
    }
    if (m.paused) {
      if (inbox[to]!.length >= inboxLimit) stats.dropped++
      else inbox[to]!.push({ from, message })
      return
    }
    handle(to, m.machine.receive(now, from, message))
  }

  for (let i = 0; i < options.size; i++) {
    const id = `m${String(i).padStart(4, '0')}`
    const address = `/sim/${i}`
    members.push({ index: i, id, address, machine: machineFor(i, id, address), crashed: false, paused: false })
    byAddress.set(address, i)
    inbox.push([])
    tickAt.push(undefined as unknown as number)
  }
  for (let i = 0; i < options.size; i++) {
    const at = i * 5
    queue.push(at, () => {
      handle(i, i === 0 ? members[0]!.machine.tick(now) : members[i]!.machine.join(now, [{ address: '/sim/0' }]))
    })
  }

  const runTo = (end: number) => {
    for (;;) {
      const next = queue.peek()
      if (next === undefined || next.at > end) break
      queue.pop()
      now = next.at
      next.run()
    }
    now = end
  }

  const sim: SwimSim = {
    members,
    get now() {
      return now
    },
    stats,
    onEvent: l => void listeners.push(l),
    runFor: ms => runTo(now + ms),
    runUntil(done, maxMs, checkEveryMs = 100) {
      const end = now + maxMs
      while (now < end) {
        if (done()) return true
        runTo(Math.min(end, now + checkEveryMs))
      }
      return done()
    },
    converged() {
      const live = members.filter(m => !m.crashed)
      for (const a of live) {
        for (const b of live) {
          if (a === b) continue
          const seen = a.machine.member(b.id)
          if (seen === undefined || seen.status !== 'alive') return false
        }
      }
      return true
    },
    crash(i) {
      members[i]!.crashed = true
      inbox[i] = []
    },
    restart(i, opts = {}) {
      const m = members[i]!
      if (opts.address !== undefined && opts.address !== m.address) {
        byAddress.delete(m.address)
        m.address = opts.address
        byAddress.set(m.address, i)
      }
      m.crashed = false
      m.paused = false
      m.machine = machineFor(i, m.id, m.address)
      tickAt[i] = undefined as unknown as number
      const seed = members[opts.seed ?? (i === 0 ? 1 : 0)]!
      handle(i, m.machine.join(now, [{ address: seed.address }]))
    },
    slow(i, delayMs) {
      slowBy[i] = delayMs
    },
    pause(i) {
      members[i]!.paused = true
    },
    resume(i) {
      const m = members[i]!
      if (!m.paused) return
      m.paused = false
      tickAt[i] = undefined as unknown as number
      // timers that fell due while stopped fire first, then the buffered messages are read
      handle(i, m.machine.tick(now))
      const pending = inbox[i]!
      inbox[i] = []
      for (const p of pending) handle(i, m.machine.receive(now, p.from, p.message))
    },
    partition(groups) {
      group = members.map(() => -1)
      groups.forEach((g, gi) => {
        for (const i of g) group![i] = gi
      })
    },
    heal() {
      group = undefined
    },
    leave(i) {
      handle(i, members[i]!.machine.leave(now))
    },
    updateMeta(i, tags) {
      handle(i, members[i]!.machine.updateMeta(now, { tags }))
    },
  }
  return sim
}
