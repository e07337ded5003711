/**
 * SWIM + Lifeguard membership as a pure state machine: no I/O, no timers, no clock of its own, no randomness of
 * its own. Inputs: `tick(now)` (at or after `nextDeadline()`), `receive(now, from, message)`, `join`, `leave`,
 * `updateMeta`. Every input returns the messages to send and the membership events it caused. A live binding
 * (over @pnet/router) and the virtual-time simulator (sim/) drive the same machine, so both are tested by the
 * same code — as the router's routing table is.
 *
 * The protocol (SWIM, Das et al. 2002; Lifeguard, Dadgar et al. 2018; as hashicorp/memberlist runs it):
 * - Probing: one member per probe interval, taken round-robin from a shuffled list (re-shuffled each pass), so
 *   every member is probed within two passes. No ack within the probe timeout → `ping-req` to k others, who probe
 *   it and forward its ack (or, under Lifeguard, send a `nack` if they get none). No ack by the end of the interval
 *   → the target is suspected.
 * - Suspicion: `suspect(id, incarnation)` gossip. The accused refutes by raising its incarnation above the
 *   accusation and gossiping `alive`. Under Lifeguard the timeout starts at max and shrinks with independent
 *   confirmations (suspicion.ts); when it fires the member is `dead` and that is gossiped.
 * - Lifeguard local health (LHM 0..awarenessMax−1): +1 per failed probe (or per missing nack), +1 per refutation
 *   of our own suspicion, −1 per successful probe. Probe interval and timeout are scaled by LHM + 1, so a member
 *   that is itself slow probes less and waits longer instead of accusing healthy ones.
 * - Buddy system: a ping to a suspect carries the suspicion first, so it refutes at once.
 * - Dissemination: every change is queued and piggybacked (fewest-sent first) on pings, ping-reqs, acks and nacks,
 *   and sent on its own to gossipNodes random members every gossipIntervalMs (also to the recently dead, so they
 *   can refute), retransmitMult × ⌈log10(N+1)⌉ times in all; newer news about a member replaces older. Push-pull: a full-state
 *   exchange with one random member every pushPullIntervalMs, and with one random dead member every
 *   reconnectIntervalMs so both sides of a healed partition find each other and refute their deaths.
 * - Precedence (per member, by incarnation): alive(i) beats suspect/dead(j) when i > j; suspect(i) beats alive(j)
 *   when i ≥ j; dead(i) and left(i) beat alive/suspect(j) when i ≥ j. A restarted member with a new address just
 *   refutes its old state with a higher incarnation: the address is updated, no conflict.
 * - Left is not dead: a `leave` statement (from the member itself) marks it `left`. Dead and left members stay
 *   listed until reaped (`reapAfterMs`, 72 h). Flap damping holds back the events of a member that keeps dying.
 *
 * @example
 * ```ts
 * import { createSwim } from '@pnet/cluster'
 *
 * const swim = createSwim({ id: 'a', address: '/memory/a', now: 0, random: Math.random })
 * let out = swim.join(0, [{ address: '/memory/b' }])   // out.send: a push-pull to b
 * out = swim.receive(5, { id: 'b', address: '/memory/b' }, reply)
 * out = swim.tick(swim.nextDeadline())                 // probes, timeouts, gossip
 * swim.members()                                      // [{ id: 'a', status: 'alive', … }, { id: 'b', … }]
 * ```
 */
import { InvalidClusterArgumentError } from '../errors.js'
import { DEFAULT_SWIM_CONFIG, type SwimConfig } from '../limits.js'
import type { Gossip, MemberMeta, MemberStatus, Outgoing, SwimMessage } from './messages.js'
import { retransmitLimit, suspicionFloor, suspicionTimeout } from './suspicion.js'

/** A member as `members()` reports it. */
export interface MemberInfo {
  id: string
  address: string
  incarnation: number
  status: MemberStatus
  meta: MemberMeta
  /** ms (the machine's clock) of the last change of status, address or metadata */
  changedAt: number
  /** flap-damped: alive on the wire but reported to the layers above as not usable */
  damped: boolean
}

export type MembershipEventType = 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'left' | 'reap'

export interface MembershipEvent {
  type: MembershipEventType
  member: MemberInfo
  /** for `suspect` and `dead`: the member whose statement caused it (this member's own ID when it decided) */
  by?: string
  at: number
}

export interface SwimOutput {
  send: Outgoing[]
  events: MembershipEvent[]
}

export interface SwimCounters {
  probes: number
  indirectProbes: number
  nacksSent: number
  suspicionsRaised: number
  deathsDeclared: number
  refutations: number
}

export interface SwimInit {
  id: string
  address: string
  /** the machine's clock at creation, ms */
  now: number
  /** uniform in [0, 1); seeded in simulations */
  random: () => number
  meta?: Partial<MemberMeta>
  /** start at this incarnation (e.g. persisted across restarts); default 0 */
  incarnation?: number
  config?: Partial<SwimConfig>
}

export interface Swim {
  readonly id: string
  tick(now: number): SwimOutput
  receive(now: number, from: { id: string; address: string }, message: SwimMessage): SwimOutput
  /** push-pull with each seed (addresses; IDs if known) */
  join(now: number, seeds: readonly { id?: string; address: string }[]): SwimOutput
  /** announce a graceful leave (gossiped, and sent to a few members at once); probing stops accusing */
  leave(now: number): SwimOutput
  /** new tags/weight, gossiped with a higher incarnation */
  updateMeta(now: number, meta: Partial<MemberMeta>): SwimOutput
  /** every member known, self included, sorted by ID */
  members(): MemberInfo[]
  member(id: string): MemberInfo | undefined
  /** earliest time at which `tick` has something to do */
  nextDeadline(): number
  /** local health multiplier (0 = healthy) */
  readonly health: number
  readonly incarnation: number
  readonly counters: Readonly<SwimCounters>
}

interface Suspicion {
  start: number
  confirmations: Set<string>
  k: number
  minMs: number
  maxMs: number
  deadline: number
}

interface Member {
  id: string
  address: string
  incarnation: number
  status: MemberStatus
  meta: MemberMeta
  changedAt: number
  suspicion: Suspicion | undefined
  flapPenalty: number
  flapAt: number
  damped: boolean
  /** the latest alive statement, and the statement behind a non-alive status: what push-pull passes on */
  aliveStatement: Extract<Gossip, { type: 'alive' }>
  statusStatement: Gossip | undefined
  /** index in `roster` (for O(1) random picks and removal) */
  slot: number
}

interface QueuedGossip {
  gossip: Gossip
  sent: number
}

interface Probe {
  seq: number
  target: string
  ackDeadline: number
  endAt: number
  acked: boolean
  indirect: boolean
  expectedNacks: number
  nacks: number
}

interface Relay {
  origin: string
  originAddress: string
  originSeq: number
  nack: boolean
  nackAt: number
}

const EMPTY_META: MemberMeta = Object.freeze({ tags: Object.freeze({}), weight: 1 })

function sameMeta(a: MemberMeta, b: MemberMeta): boolean {
  if (a.weight !== b.weight) return false
  const ka = Object.keys(a.tags)
  if (ka.length !== Object.keys(b.tags).length) return false
  return ka.every(k => a.tags[k] === b.tags[k])
}

function checkConfig(c: SwimConfig): void {
  const positive: (keyof SwimConfig)[] = [
    'probeIntervalMs',
    'probeTimeoutMs',
    'suspicionMult',
    'suspicionMaxTimeoutMult',
    'retransmitMult',
    'awarenessMax',
    'pushPullIntervalMs',
    'reconnectIntervalMs',
    'reapAfterMs',
    'maxPiggyback',
    'housekeepingIntervalMs',
    'gossipIntervalMs',
    'flapHalfLifeMs',
  ]
  for (const key of positive) {
    const v = c[key]
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      throw new InvalidClusterArgumentError(`config.${key}`, String(v), 'must be a finite number > 0')
    }
  }
  if (c.probeTimeoutMs >= c.probeIntervalMs) {
    throw new InvalidClusterArgumentError(
      'config.probeTimeoutMs',
      String(c.probeTimeoutMs),
      'must be < probeIntervalMs',
    )
  }
  if (!Number.isInteger(c.indirectChecks) || c.indirectChecks < 0) {
    throw new InvalidClusterArgumentError('config.indirectChecks', String(c.indirectChecks), 'must be an integer ≥ 0')
  }
}

/**
 * A SWIM + Lifeguard membership state machine (see the module doc).
 *
 * @example
 * ```ts
 * const swim = createSwim({ id: peerId, address, now: Date.now(), random: Math.random })
 * ```
 */
export function createSwim(init: SwimInit): Swim {
  const cfg: SwimConfig = { ...DEFAULT_SWIM_CONFIG, ...init.config }
  checkConfig(cfg)
  const random = init.random
  const self = {
    id: init.id,
    address: init.address,
    incarnation: init.incarnation ?? 0,
    meta: { ...EMPTY_META, ...init.meta } as MemberMeta,
    changedAt: init.now,
    leaving: false,
  }
  const members = new Map<string, Member>()
  /** pending gossip, one per member, and the same entries bucketed by how often they were sent */
  const gossipQueue = new Map<string, QueuedGossip>()
  const sentBuckets: Set<QueuedGossip>[] = []
  /** every member in an array, for random picks without a scan */
  const roster: Member[] = []
  /** alive + suspect members, self included (kept as statuses change; timeouts scale with it) */
  let live = 1
  const suspects = new Set<Member>()
  /** dead, left or damped members: what housekeeping looks at */
  const watched = new Set<Member>()
  const relays = new Map<number, Relay>()
  const counters: SwimCounters = {
    probes: 0,
    indirectProbes: 0,
    nacksSent: 0,
    suspicionsRaised: 0,
    deathsDeclared: 0,
    refutations: 0,
  }
  let seq = 0
  let lhm = 0
  let probe: Probe | undefined
  let probeList: string[] = []
  let probeIndex = 0
  // stagger the periodic work so members started together do not act in lockstep
  let nextProbeAt = init.now + Math.floor(random() * cfg.probeIntervalMs)
  let nextPushPullAt = init.now + Math.floor(random() * cfg.pushPullIntervalMs)
  let nextReconnectAt = init.now + Math.floor(random() * cfg.reconnectIntervalMs)
  let nextHousekeepingAt = init.now + cfg.housekeepingIntervalMs
  let nextGossipAt = init.now + Math.floor(random() * cfg.gossipIntervalMs)
  let out: SwimOutput = { send: [], events: [] }

  const flush = (): SwimOutput => {
    const o = out
    out = { send: [], events: [] }
    return o
  }
  const scale = () => (cfg.lifeguard ? lhm + 1 : 1)
  const adjustHealth = (delta: number) => {
    if (cfg.lifeguard) lhm = Math.min(cfg.awarenessMax - 1, Math.max(0, lhm + delta))
  }
  /** members that count for the timeouts: not dead or left, self included */
  const liveCount = () => live
  const isLive = (s: MemberStatus) => s === 'alive' || s === 'suspect'
  /** every status change goes through here, so the counters and sets above stay true */
  const setStatus = (m: Member, status: MemberStatus) => {
    if (isLive(m.status) !== isLive(status)) live += isLive(status) ? 1 : -1
    m.status = status
    if (status !== 'suspect') {
      m.suspicion = undefined
      suspects.delete(m)
    }
    if (status === 'dead' || status === 'left' || m.damped) watched.add(m)
    else watched.delete(m)
  }
  const info = (m: Member): MemberInfo => ({
    id: m.id,
    address: m.address,
    incarnation: m.incarnation,
    status: m.status,
    meta: m.meta,
    changedAt: m.changedAt,
    damped: m.damped,
  })
  const selfInfo = (): MemberInfo => ({
    id: self.id,
    address: self.address,
    incarnation: self.incarnation,
    status: self.leaving ? 'left' : 'alive',
    meta: self.meta,
    changedAt: self.changedAt,
    damped: false,
  })
  const emit = (type: MembershipEventType, m: Member, now: number, by?: string) => {
    if (m.damped && type !== 'reap') return
    const e: MembershipEvent = { type, member: info(m), at: now }
    if (by !== undefined) e.by = by
    out.events.push(e)
  }
  const bucket = (sent: number): Set<QueuedGossip> => {
    let b = sentBuckets[sent]
    if (b === undefined) {
      b = new Set()
      sentBuckets[sent] = b
    }
    return b
  }
  const unqueue = (id: string) => {
    const old = gossipQueue.get(id)
    if (old === undefined) return
    gossipQueue.delete(id)
    sentBuckets[old.sent]?.delete(old)
  }
  const queue = (gossip: Gossip) => {
    unqueue(gossip.id) // newer news about a member replaces older
    const entry: QueuedGossip = { gossip, sent: 0 }
    gossipQueue.set(gossip.id, entry)
    bucket(0).add(entry)
    if (gossipQueue.size > cfg.maxGossipQueue) {
      // drop the most-sent item (push-pull repairs what is lost)
      for (let b = sentBuckets.length - 1; b >= 0; b--) {
        const first = sentBuckets[b]?.values().next().value
        if (first !== undefined) {
          unqueue(first.gossip.id)
          break
        }
      }
    }
  }
  const aliveGossipOfSelf = (): Gossip => ({
    type: 'alive',
    id: self.id,
    address: self.address,
    incarnation: self.incarnation,
    meta: self.meta,
  })
  const piggyback = (first?: Gossip): Gossip[] => {
    const items: Gossip[] = first ? [first] : []
    if (gossipQueue.size === 0) return items
    const limit = retransmitLimit(cfg.retransmitMult, liveCount())
    // fewest-sent first; within a bucket, oldest first
    const taken: QueuedGossip[] = []
    for (let b = 0; b < sentBuckets.length && items.length < cfg.maxPiggyback; b++) {
      const group = sentBuckets[b]
      if (group === undefined) continue
      for (const q of group) {
        if (items.length >= cfg.maxPiggyback) break
        if (first !== undefined && q.gossip.id === first.id) continue
        items.push(q.gossip)
        taken.push(q)
      }
    }
    for (const q of taken) {
      sentBuckets[q.sent]!.delete(q)
      if (++q.sent >= limit) gossipQueue.delete(q.gossip.id)
      else bucket(q.sent).add(q)
    }
    return items
  }
  const send = (to: string | undefined, address: string, message: SwimMessage) => {
    const o: Outgoing = { address, message }
    if (to !== undefined) o.to = to
    out.send.push(o)
  }

  // ---- state changes -------------------------------------------------------------------------------------------

  const refute = (now: number, accused: number) => {
    self.incarnation = Math.max(self.incarnation, accused) + 1
    self.changedAt = now
    counters.refutations++
    adjustHealth(1)
    queue(ownAliveStatement())
  }

  const decayedPenalty = (m: Member, now: number) => m.flapPenalty * 2 ** (-(now - m.flapAt) / cfg.flapHalfLifeMs)

  const startSuspicion = (m: Member, now: number, from: string) => {
    const n = liveCount()
    const minMs = suspicionFloor(cfg.suspicionMult, n, cfg.probeIntervalMs)
    suspects.add(m)
    if (!cfg.lifeguard) {
      m.suspicion = { start: now, confirmations: new Set([from]), k: 0, minMs, maxMs: minMs, deadline: now + minMs }
      return
    }
    const maxMs = cfg.suspicionMaxTimeoutMult * minMs
    // with too few others to confirm, wait the floor (memberlist does the same)
    const k = n - 2 < cfg.suspicionMult - 2 ? 0 : cfg.suspicionMult - 2
    m.suspicion = {
      start: now,
      confirmations: new Set([from]),
      k,
      minMs,
      maxMs,
      deadline: now + suspicionTimeout(0, k, minMs, maxMs),
    }
  }

  const applyAlive = (now: number, g: Extract<Gossip, { type: 'alive' }>) => {
    if (g.id === self.id) {
      // a statement about us that is not ours now (an older life at another address, old metadata): outbid it
      if (
        !self.leaving &&
        g.incarnation >= self.incarnation &&
        (g.address !== self.address || !sameMeta(g.meta, self.meta))
      ) {
        refute(now, g.incarnation)
      }
      return
    }
    const m = members.get(g.id)
    if (m === undefined) {
      if (members.size >= cfg.maxMembers) return
      const fresh: Member = {
        id: g.id,
        address: g.address,
        incarnation: g.incarnation,
        status: 'alive',
        meta: g.meta,
        changedAt: now,
        suspicion: undefined,
        flapPenalty: 0,
        flapAt: now,
        damped: false,
        aliveStatement: g,
        statusStatement: undefined,
        slot: roster.length,
      }
      members.set(g.id, fresh)
      roster.push(fresh)
      live++
      // a new member goes to a random place in the rest of this pass, so it is probed within one pass
      addToProbeList(g.id)
      emit('join', fresh, now)
      queue(g)
      return
    }
    if (g.incarnation <= m.incarnation) return
    const was = m.status
    const changed = m.address !== g.address || !sameMeta(m.meta, g.meta)
    m.incarnation = g.incarnation
    m.address = g.address
    m.meta = g.meta
    setStatus(m, 'alive')
    m.aliveStatement = g
    m.statusStatement = undefined
    if (was !== 'alive' || changed) m.changedAt = now
    queue(g)
    if (was === 'suspect') {
      emit('alive', m, now)
      if (changed) emit('update', m, now)
    } else if (was === 'dead' || was === 'left') {
      addToProbeList(m.id)
      if (!m.damped && decayedPenalty(m, now) >= cfg.flapSuppressAt) {
        m.damped = true
        watched.add(m)
      }
      emit('join', m, now)
    } else if (changed) emit('update', m, now)
  }

  const applySuspect = (now: number, g: Extract<Gossip, { type: 'suspect' }>) => {
    if (g.id === self.id) {
      if (!self.leaving && g.incarnation >= self.incarnation) refute(now, g.incarnation)
      return
    }
    const m = members.get(g.id)
    if (m === undefined || g.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return
    if (m.status === 'suspect' && m.suspicion !== undefined) {
      if (g.incarnation > m.incarnation) m.incarnation = g.incarnation
      const s = m.suspicion
      if (s.confirmations.has(g.from) || s.confirmations.size > s.k) return
      s.confirmations.add(g.from)
      s.deadline = s.start + suspicionTimeout(s.confirmations.size - 1, s.k, s.minMs, s.maxMs)
      queue(g) // pass the independent confirmation on, so others shorten their timers too
      return
    }
    setStatus(m, 'suspect')
    m.incarnation = g.incarnation
    m.changedAt = now
    m.statusStatement = g
    startSuspicion(m, now, g.from)
    if (g.from === self.id) counters.suspicionsRaised++
    emit('suspect', m, now, g.from)
    queue(g)
  }

  const applyDead = (now: number, g: Extract<Gossip, { type: 'dead' }>) => {
    if (g.id === self.id) {
      if (!self.leaving && g.incarnation >= self.incarnation) refute(now, g.incarnation)
      return
    }
    const m = members.get(g.id)
    if (m === undefined || g.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return
    setStatus(m, 'dead')
    m.incarnation = g.incarnation
    m.changedAt = now
    m.statusStatement = g
    m.flapPenalty = decayedPenalty(m, now) + cfg.flapPenalty
    m.flapAt = now
    if (g.from === self.id) counters.deathsDeclared++
    emit('dead', m, now, g.from)
    queue(g)
  }

  const applyLeave = (now: number, g: Extract<Gossip, { type: 'leave' }>) => {
    if (g.id === self.id) return
    const m = members.get(g.id)
    if (m === undefined || g.incarnation < m.incarnation || m.status === 'left') return
    setStatus(m, 'left')
    m.incarnation = g.incarnation
    m.changedAt = now
    m.statusStatement = g
    emit('left', m, now)
    queue(g)
  }

  const apply = (now: number, g: Gossip) => {
    switch (g.type) {
      case 'alive':
        return applyAlive(now, g)
      case 'suspect':
        return applySuspect(now, g)
      case 'dead':
        return applyDead(now, g)
      case 'leave':
        return applyLeave(now, g)
    }
  }

  // ---- probing -------------------------------------------------------------------------------------------------

  const probeable = (m: Member | undefined) => m !== undefined && (m.status === 'alive' || m.status === 'suspect')

  function addToProbeList(id: string): void {
    probeList.push(id)
    const last = probeList.length - 1
    const j = probeIndex + Math.floor(random() * (last - probeIndex + 1))
    if (j >= probeIndex && j < last) [probeList[j], probeList[last]] = [probeList[last]!, probeList[j]!]
  }

  const nextTarget = (): Member | undefined => {
    for (let pass = 0; pass < 2; pass++) {
      while (probeIndex < probeList.length) {
        const m = members.get(probeList[probeIndex++]!)
        if (probeable(m)) return m
      }
      // end of a pass: a fresh shuffle of the probeable members (Fisher–Yates)
      probeList = roster.filter(probeable).map(m => m.id)
      for (let i = probeList.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        ;[probeList[i], probeList[j]] = [probeList[j]!, probeList[i]!]
      }
      probeIndex = 0
    }
    return undefined
  }

  /**
   * Up to `count` distinct random members that `accept` takes: a few random draws from the roster (O(count) when
   * most members qualify, the usual case), then a scan of the rest when too few did.
   */
  const randomMembers = (count: number, accept: (m: Member) => boolean): Member[] => {
    const picked = new Set<Member>()
    const n = roster.length
    for (let tries = 0; picked.size < count && tries < count * 4 + 8 && n > 0; tries++) {
      const m = roster[Math.floor(random() * n)]!
      if (accept(m)) picked.add(m)
    }
    if (picked.size < count) {
      const pool = roster.filter(m => !picked.has(m) && accept(m))
      while (picked.size < count && pool.length > 0) {
        const i = Math.floor(random() * pool.length)
        picked.add(pool[i]!)
        pool[i] = pool[pool.length - 1]!
        pool.pop()
      }
    }
    return [...picked]
  }

  const startProbe = (now: number) => {
    const target = nextTarget()
    const s = scale()
    nextProbeAt = now + cfg.probeIntervalMs * s
    if (target === undefined) return
    counters.probes++
    probe = {
      seq: ++seq,
      target: target.id,
      ackDeadline: now + cfg.probeTimeoutMs * s,
      endAt: nextProbeAt,
      acked: false,
      indirect: false,
      expectedNacks: 0,
      nacks: 0,
    }
    // buddy system: a suspect hears of it in the probe itself and can refute at once
    const buddy: Gossip | undefined =
      cfg.lifeguard && target.status === 'suspect'
        ? { type: 'suspect', id: target.id, incarnation: target.incarnation, from: self.id }
        : undefined
    send(target.id, target.address, { type: 'ping', seq: probe.seq, target: target.id, gossip: piggyback(buddy) })
  }

  const probeIndirect = (now: number, p: Probe) => {
    p.indirect = true
    const target = members.get(p.target)
    if (target === undefined) return
    const helpers = randomMembers(cfg.indirectChecks, m => m.status === 'alive' && m.id !== p.target)
    counters.indirectProbes += helpers.length
    p.expectedNacks = cfg.lifeguard ? helpers.length : 0
    for (const h of helpers) {
      send(h.id, h.address, {
        type: 'ping-req',
        seq: p.seq,
        target: target.id,
        targetAddress: target.address,
        nack: cfg.lifeguard,
        gossip: piggyback(),
      })
    }
    // a member that was itself stalled past the whole interval still gives the helpers one timeout to answer
    p.endAt = Math.max(p.endAt, now + cfg.probeTimeoutMs * scale())
    nextProbeAt = Math.max(nextProbeAt, p.endAt)
  }

  const concludeProbe = (now: number, p: Probe) => {
    probe = undefined
    if (p.acked) return
    // Lifeguard: missing nacks mean our own network or CPU is the problem, not (only) the target
    if (p.expectedNacks > 0) adjustHealth(p.expectedNacks - p.nacks)
    else adjustHealth(1)
    if (self.leaving) return
    const target = members.get(p.target)
    if (!probeable(target)) return
    apply(now, { type: 'suspect', id: target!.id, incarnation: target!.incarnation, from: self.id })
  }

  // ---- push-pull -----------------------------------------------------------------------------------------------

  let ownLeave: Gossip | undefined
  let ownAlive: Gossip | undefined
  const ownAliveStatement = (): Gossip => {
    // one object per incarnation, so a codec signs it once
    if (
      ownAlive === undefined ||
      ownAlive.incarnation !== self.incarnation ||
      (ownAlive as { meta: MemberMeta }).meta !== self.meta
    ) {
      ownAlive = aliveGossipOfSelf()
    }
    return ownAlive
  }
  const statements = (): Gossip[] => {
    const list: Gossip[] = [ownAliveStatement()]
    if (ownLeave !== undefined) list.push(ownLeave)
    for (const m of members.values()) {
      list.push(m.aliveStatement)
      if (m.statusStatement !== undefined) list.push(m.statusStatement)
    }
    return list
  }

  // Statements are applied as they are: a member's alive statement first (so it is known), then its status. A
  // remote `dead` may be one-sided (a partition); the member refutes it with a higher incarnation when it hears.
  const merge = (now: number, remote: readonly Gossip[]) => {
    for (const g of remote) apply(now, g)
  }

  // ---- inputs --------------------------------------------------------------------------------------------------

  const machine: Swim = {
    id: self.id,
    tick(now) {
      if (probe !== undefined && !probe.acked && !probe.indirect && now >= probe.ackDeadline) probeIndirect(now, probe)
      if (probe !== undefined && now >= probe.endAt) concludeProbe(now, probe)
      if (probe === undefined && now >= nextProbeAt) startProbe(now)
      for (const [s, r] of relays) {
        if (now < r.nackAt) continue
        relays.delete(s)
        if (r.nack) {
          counters.nacksSent++
          send(r.origin, r.originAddress, { type: 'nack', seq: r.originSeq, gossip: piggyback() })
        }
      }
      for (const m of [...suspects]) {
        if (m.status === 'suspect' && m.suspicion !== undefined && now >= m.suspicion.deadline) {
          apply(now, { type: 'dead', id: m.id, incarnation: m.incarnation, from: self.id })
        }
      }
      if (now >= nextGossipAt) {
        nextGossipAt = now + cfg.gossipIntervalMs
        if (gossipQueue.size > 0) {
          const targets = randomMembers(
            cfg.gossipNodes,
            m =>
              m.status === 'alive' ||
              m.status === 'suspect' ||
              (m.status === 'dead' && now - m.changedAt < cfg.gossipToTheDeadMs),
          )
          for (const t of targets) {
            const gossip = piggyback()
            if (gossip.length === 0) break
            send(t.id, t.address, { type: 'gossip', gossip })
          }
        }
      }
      if (now >= nextPushPullAt) {
        const n = liveCount()
        // memberlist's scaling: past 32 members, exchange full state less often (it grows with N)
        const factor = n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
        nextPushPullAt = now + cfg.pushPullIntervalMs * factor
        const [peer] = randomMembers(1, m => m.status === 'alive')
        if (peer)
          send(peer.id, peer.address, { type: 'push-pull', reply: false, join: false, statements: statements() })
      }
      if (now >= nextReconnectAt) {
        nextReconnectAt = now + cfg.reconnectIntervalMs
        const [peer] = randomMembers(1, m => m.status === 'dead')
        if (peer)
          send(peer.id, peer.address, { type: 'push-pull', reply: false, join: false, statements: statements() })
      }
      if (now >= nextHousekeepingAt) {
        nextHousekeepingAt = now + cfg.housekeepingIntervalMs
        for (const m of [...watched]) {
          if ((m.status === 'dead' || m.status === 'left') && now - m.changedAt >= cfg.reapAfterMs) {
            members.delete(m.id)
            watched.delete(m)
            unqueue(m.id)
            const last = roster.pop()!
            if (last !== m) {
              roster[m.slot] = last
              last.slot = m.slot
            }
            emit('reap', m, now)
          } else if (m.damped && decayedPenalty(m, now) < cfg.flapReuseAt) {
            m.damped = false
            if (isLive(m.status)) {
              watched.delete(m)
              emit('join', m, now)
            }
          }
        }
      }
      return flush()
    },

    receive(now, from, message) {
      if (message.type !== 'push-pull') for (const g of message.gossip) apply(now, g)
      switch (message.type) {
        case 'ping':
          // a ping meant for a previous owner of our address is not ours to answer
          if (message.target === self.id) {
            send(from.id, from.address, { type: 'ack', seq: message.seq, gossip: piggyback() })
          }
          break
        case 'ping-req': {
          const mine = ++seq
          relays.set(mine, {
            origin: from.id,
            originAddress: from.address,
            originSeq: message.seq,
            nack: message.nack,
            nackAt: now + cfg.probeTimeoutMs,
          })
          send(message.target, message.targetAddress, {
            type: 'ping',
            seq: mine,
            target: message.target,
            gossip: piggyback(),
          })
          break
        }
        case 'ack': {
          if (probe !== undefined && message.seq === probe.seq && !probe.acked) {
            probe.acked = true
            adjustHealth(-1)
            break
          }
          const r = relays.get(message.seq)
          if (r !== undefined) {
            relays.delete(message.seq)
            send(r.origin, r.originAddress, { type: 'ack', seq: r.originSeq, gossip: piggyback() })
          }
          break
        }
        case 'nack':
          if (probe !== undefined && message.seq === probe.seq) probe.nacks++
          break
        case 'gossip':
          break
        case 'push-pull':
          merge(now, message.statements)
          if (!message.reply)
            send(from.id, from.address, { type: 'push-pull', reply: true, join: false, statements: statements() })
          break
      }
      return flush()
    },

    join(_now, seeds) {
      for (const s of seeds) {
        if (s.address === self.address) continue
        send(s.id, s.address, { type: 'push-pull', reply: false, join: true, statements: statements() })
      }
      return flush()
    },

    leave(now) {
      if (!self.leaving) {
        self.leaving = true
        self.changedAt = now
        const g: Gossip = { type: 'leave', id: self.id, incarnation: self.incarnation }
        ownLeave = g
        queue(g)
        for (const m of randomMembers(cfg.indirectChecks, x => x.status === 'alive')) {
          send(m.id, m.address, { type: 'ping', seq: ++seq, target: m.id, gossip: piggyback(g) })
        }
      }
      return flush()
    },

    updateMeta(now, meta) {
      self.meta = { ...self.meta, ...meta }
      self.incarnation++
      self.changedAt = now
      queue(ownAliveStatement())
      return flush()
    },

    members() {
      return [selfInfo(), ...[...members.values()].map(info)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    },
    member(id) {
      if (id === self.id) return selfInfo()
      const m = members.get(id)
      return m && info(m)
    },
    nextDeadline() {
      let t = Math.min(nextPushPullAt, nextReconnectAt, nextHousekeepingAt)
      if (gossipQueue.size > 0) t = Math.min(t, nextGossipAt)
      if (probe === undefined) t = Math.min(t, nextProbeAt)
      else t = Math.min(t, probe.acked || probe.indirect ? probe.endAt : probe.ackDeadline)
      for (const r of relays.values()) t = Math.min(t, r.nackAt)
      for (const m of suspects) if (m.suspicion !== undefined) t = Math.min(t, m.suspicion.deadline)
      return t
    },
    get health() {
      return lhm
    },
    get incarnation() {
      return self.incarnation
    },
    counters,
  }
  return machine
}
