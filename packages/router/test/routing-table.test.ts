import { describe, expect, it } from 'vitest'
import {
  DEFAULT_ROUTER_LIMITS,
  DEFAULT_ROUTER_TIMERS,
  INFINITY_METRIC,
  resolveRouterLimits,
  resolveRouterTimers,
} from '../src/limits.js'
import type { ControlMessage, RouteUpdate, UpdateMessage } from '../src/messages.js'
import { type PeerKey, peerKeyFromBytes } from '../src/peer-key.js'
import { type Route, RoutingTable, type RoutingTableInit } from '../src/routing-table.js'
import { fakePeerBytes } from './helpers.js'

const K = Array.from({ length: 20 }, (_, i) => peerKeyFromBytes(fakePeerBytes(1000 + i)))
const [SELF, A, B, C, D] = K as [PeerKey, PeerKey, PeerKey, PeerKey, PeerKey]

interface Harness {
  table: RoutingTable
  sent: { to: PeerKey; msg: ControlMessage }[]
  changes: { dest: PeerKey; route: Route | undefined; previous: Route | undefined }[]
  clock: { now: number }
  /** advance the clock and run what is due */
  advance(ms: number): void
  updatesTo(peer: PeerKey): RouteUpdate[]
}

function harness(overrides: Partial<RoutingTableInit> = {}): Harness {
  const clock = { now: 1_000 }
  const sent: Harness['sent'] = []
  const changes: Harness['changes'] = []
  const table = new RoutingTable({
    self: SELF,
    limits: DEFAULT_ROUTER_LIMITS,
    timers: DEFAULT_ROUTER_TIMERS,
    now: () => clock.now,
    random: () => 0.5,
    seqno: 100,
    send: (to, msg) => sent.push({ to, msg }),
    onRouteChange: (dest, route, previous) => changes.push({ dest, route, previous }),
    ...overrides,
  })
  return {
    table,
    sent,
    changes,
    clock,
    advance(ms) {
      const until = clock.now + ms
      while (table.nextDeadline() <= until) {
        clock.now = Math.max(clock.now, table.nextDeadline())
        table.tick()
      }
      clock.now = until
    },
    updatesTo(peer) {
      return sent
        .filter(s => s.to.key === peer.key && s.msg.type === 'update')
        .flatMap(s => (s.msg as UpdateMessage).entries)
    },
  }
}

function upd(entries: [PeerKey, number, number, number][], full = false): UpdateMessage {
  return {
    type: 'update',
    fullStart: full,
    fullEnd: full,
    entries: entries.map(([dest, seqno, metric, hops]) => ({ dest, index: 0, gen: 0, seqno, metric, hops })),
  }
}

describe('limits', () => {
  it('rejects nonsense with a RangeError naming the field', () => {
    expect(() => resolveRouterLimits({ maxRelayedStreams: 0 })).toThrow(
      /limits.maxRelayedStreams must be an integer >= 1/,
    )
    expect(() => resolveRouterLimits({ maxRelayHops: 70_000 })).toThrow(/limits.maxRelayHops must be <= 65535/)
    expect(() => resolveRouterLimits({ maxDestinations: 1.5 })).toThrow(/limits.maxDestinations/)
    expect(() => resolveRouterTimers({ helloIntervalMs: 5_000, linkTimeoutMs: 5_000 })).toThrow(
      /timers.linkTimeoutMs \(5000\) must exceed timers.helloIntervalMs/,
    )
    expect(resolveRouterTimers({ triggerDelayMs: 0 }).triggerDelayMs).toBe(0)
  })
})

describe('RoutingTable', () => {
  it('sends a new neighbour the full table, itself first, framed as a full table', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    expect(h.sent).toHaveLength(1)
    const msg = h.sent[0]!.msg as UpdateMessage
    expect(msg).toMatchObject({ type: 'update', fullStart: true, fullEnd: true })
    expect(msg.entries.map(e => [e.dest.key, e.seqno, e.metric, e.hops])).toEqual([[SELF.key, 100, 0, 0]])
  })

  it('learns a neighbour and the destinations behind it; metric adds the link cost', () => {
    const h = harness()
    h.table.linkUp(A, 3)
    h.table.receive(
      A,
      upd(
        [
          [A, 7, 0, 0],
          [B, 9, 2, 2],
        ],
        true,
      ),
    )
    expect(h.table.nextHop(A)?.key).toBe(A.key)
    expect(h.table.route(B)).toMatchObject({ nextHop: A, metric: 5, hops: 3, seqno: 9 })
    expect(h.changes.map(c => [c.dest.key, c.route?.metric, c.previous])).toEqual([
      [A.key, 3, undefined],
      [B.key, 5, undefined],
    ])
    expect(h.table.size).toBe(2)
  })

  it('batches good news for triggerDelayMs and applies split horizon', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.sent.length = 0
    h.table.receive(
      A,
      upd(
        [
          [A, 7, 0, 0],
          [C, 1, 4, 4],
        ],
        true,
      ),
    )
    expect(h.sent).toHaveLength(0)
    h.advance(DEFAULT_ROUTER_TIMERS.triggerDelayMs - 1)
    expect(h.sent).toHaveLength(0)
    h.advance(1)
    // B hears both routes; A (their next hop) hears neither (a retraction of something it never heard is dropped
    // only by the codec, so the table still sends it)
    expect(h.updatesTo(B).map(e => [e.dest.key, e.metric, e.hops])).toEqual([
      [A.key, 1, 1],
      [C.key, 5, 5],
    ])
    expect(h.updatesTo(A).every(e => e.metric === INFINITY_METRIC)).toBe(true)
  })

  it('sends bad news at once after a quiet spell, and retracts routes through a link that went down', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.table.receive(
      A,
      upd(
        [
          [A, 7, 0, 0],
          [C, 1, 4, 4],
        ],
        true,
      ),
    )
    h.advance(1_000)
    h.sent.length = 0
    h.table.linkDown(A)
    expect(h.table.route(C)).toBeUndefined()
    expect(h.table.nextDeadline()).toBe(h.clock.now)
    h.advance(0)
    expect(h.updatesTo(B).map(e => [e.dest.key, e.metric])).toEqual([
      [A.key, INFINITY_METRIC],
      [C.key, INFINITY_METRIC],
    ])
    expect(h.changes.at(-1)).toMatchObject({ dest: C, route: undefined, previous: { metric: 5 } })
  })

  it('never selects an unfeasible route and asks the destination for a new seqno instead', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.table.receive(A, upd([[C, 5, 1, 1]]))
    h.advance(100) // advertised C at metric 2: feasibility distance (5, 2)
    h.sent.length = 0
    // B offers C at metric 2 with the same seqno: 2 is not < 2, unfeasible (B might route through us)
    h.table.receive(B, upd([[C, 5, 2, 2]]))
    h.table.linkDown(A)
    expect(h.table.route(C)).toBeUndefined()
    expect(h.table.inspect(C)).toMatchObject({ requesting: true, entries: [{ neighbour: B, feasible: false }] })
    const request = h.sent.find(s => s.msg.type === 'seqno-request')
    expect(request?.to.key).toBe(B.key)
    expect(request?.msg).toMatchObject({
      type: 'seqno-request',
      dest: C,
      seqno: 6,
      hopCount: DEFAULT_ROUTER_LIMITS.maxSeqnoRequestHops,
    })
    // the answer: C's route with the new seqno, feasible whatever its metric
    h.table.receive(B, upd([[C, 6, 7, 7]]))
    expect(h.table.route(C)).toMatchObject({ nextHop: B, metric: 8, seqno: 6 })
    expect(h.table.inspect(C)?.requesting).toBe(false)
  })

  it('retries an unanswered seqno request with backoff, then gives up', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.table.receive(A, upd([[C, 5, 1, 1]]))
    h.advance(100)
    h.table.receive(B, upd([[C, 5, 3, 3]]))
    h.sent.length = 0
    h.table.linkDown(A)
    h.advance(200_000)
    const requests = h.sent.filter(s => s.msg.type === 'seqno-request')
    expect(requests).toHaveLength(1 + DEFAULT_ROUTER_TIMERS.seqnoRequestRetries)
    expect(h.table.idle).toBe(true)
  })

  it('answers a seqno request for itself by bumping its seqno, and forwards others along its route', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.table.receive(A, upd([[C, 5, 1, 1]]))
    h.advance(100)
    h.sent.length = 0
    h.table.receive(B, { type: 'seqno-request', dest: SELF, seqno: 120, hopCount: 10 })
    expect(h.table.seqno).toBe(120)
    h.advance(100)
    expect(h.updatesTo(A).find(e => e.dest.key === SELF.key)?.seqno).toBe(120)
    h.sent.length = 0
    h.table.receive(B, { type: 'seqno-request', dest: C, seqno: 6, hopCount: 10 })
    expect(h.sent).toEqual([{ to: A, msg: { type: 'seqno-request', dest: C, seqno: 6, hopCount: 9 } }])
    // a duplicate within the timeout is not forwarded again; a request with hop count 1 never is
    h.table.receive(B, { type: 'seqno-request', dest: C, seqno: 6, hopCount: 10 })
    h.table.receive(B, { type: 'seqno-request', dest: D, seqno: 6, hopCount: 1 })
    expect(h.sent).toHaveLength(1)
    // a request it can satisfy is answered to the requester alone
    h.table.receive(B, { type: 'seqno-request', dest: C, seqno: 5, hopCount: 10 })
    expect(h.sent.at(-1)).toMatchObject({ to: B, msg: { type: 'update', entries: [{ dest: C, seqno: 5, metric: 2 }] } })
  })

  it('jumps past a seqno of its own that a neighbour remembers (restart)', () => {
    const h = harness({ seqno: 3 })
    h.table.linkUp(A, 1)
    h.table.receive(A, upd([[SELF, 900, 2, 2]]))
    expect(h.table.seqno).toBe(901)
  })

  it('sweeps what a full table did not repeat', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.receive(
      A,
      upd(
        [
          [A, 1, 0, 0],
          [B, 1, 1, 1],
          [C, 1, 1, 1],
        ],
        true,
      ),
    )
    expect(h.table.size).toBe(3)
    h.table.receive(
      A,
      upd(
        [
          [A, 1, 0, 0],
          [C, 1, 1, 1],
        ],
        true,
      ),
    )
    expect(h.table.route(B)).toBeUndefined()
    expect(h.table.route(C)).toBeDefined()
  })

  it('confirms a neighbour on a matching digest and asks for the full table on a mismatch', () => {
    const a = harness()
    const b = harness({ self: A, seqno: 7 })
    a.table.linkUp(A, 1)
    b.table.linkUp(SELF, 1)
    // deliver b's full table and a route it learned to a
    for (const s of b.sent) a.table.receive(A, s.msg)
    b.table.linkUp(C, 1)
    b.table.receive(C, upd([[C, 2, 0, 0]], true))
    b.advance(100)
    for (const s of b.sent.filter(x => x.to.key === SELF.key)) a.table.receive(A, s.msg)
    a.sent.length = 0
    b.sent.length = 0
    b.advance(DEFAULT_ROUTER_TIMERS.refreshIntervalMs * 2)
    const digests = b.sent.filter(s => s.to.key === SELF.key && s.msg.type === 'digest')
    expect(digests.length).toBeGreaterThan(0)
    a.clock.now = b.clock.now
    a.table.receive(A, digests[0]!.msg)
    expect(a.sent.filter(s => s.msg.type === 'route-request')).toHaveLength(0)
    expect(a.table.route(C)?.confirmedAt).toBe(a.clock.now)
    a.table.receive(A, { type: 'digest', count: 99, h1: 1, h2: 2 })
    expect(a.sent.filter(s => s.msg.type === 'route-request')).toHaveLength(1)
    expect(a.table.counters.digestMismatches).toBe(1)
  })

  it('forgets a lost destination only after sourceGcMs (its feasibility distance keeps routes loop-free)', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.receive(A, upd([[C, 5, 1, 1]]))
    h.advance(100)
    h.table.linkDown(A)
    expect(h.table.destinations).toBe(1)
    h.advance(DEFAULT_ROUTER_TIMERS.sourceGcMs / 2)
    expect(h.table.destinations).toBe(1)
    h.advance(DEFAULT_ROUTER_TIMERS.sourceGcMs + DEFAULT_ROUTER_TIMERS.refreshIntervalMs * 2)
    expect(h.table.destinations).toBe(0)
  })

  it('drops destinations past limits.maxDestinations and says so', () => {
    const warnings: string[] = []
    const log = (msg: string | object, text?: string) => {
      warnings.push(typeof msg === 'string' ? msg : (text ?? ''))
    }
    const h = harness({
      limits: resolveRouterLimits({ maxDestinations: 3 }),
      logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: log, error: log },
    })
    h.table.linkUp(A, 1)
    h.table.receive(A, upd(K.slice(1, 8).map((k, i) => [k, 1, i, i] as [PeerKey, number, number, number])))
    expect(h.table.destinations).toBe(3)
    expect(h.table.counters.destinationsDropped).toBe(4)
    expect(warnings.filter(w => w.includes('maxDestinations'))).toHaveLength(1)
  })

  it('splits a full table into frames of at most maxEntriesPerUpdate', () => {
    const h = harness({ limits: resolveRouterLimits({ maxEntriesPerUpdate: 4 }) })
    h.table.linkUp(A, 1)
    h.table.receive(A, upd(K.slice(2, 12).map(k => [k, 1, 1, 1] as [PeerKey, number, number, number])))
    h.advance(100)
    h.sent.length = 0
    h.table.linkUp(B, 1)
    const frames = h.sent.map(s => s.msg as UpdateMessage)
    expect(frames.map(f => f.entries.length)).toEqual([4, 4, 3])
    expect(frames.map(f => [f.fullStart, f.fullEnd])).toEqual([
      [true, false],
      [false, false],
      [false, true],
    ])
  })

  it('re-evaluates routes when a link cost changes (rtt metric)', () => {
    const h = harness()
    h.table.linkUp(A, 10)
    h.table.linkUp(B, 30)
    h.table.receive(A, upd([[C, 1, 10, 1]]))
    h.table.receive(B, upd([[C, 1, 5, 1]]))
    expect(h.table.route(C)).toMatchObject({ nextHop: A, metric: 20 })
    h.advance(100)
    h.table.setCost(B, 4)
    expect(h.table.route(C)).toMatchObject({ nextHop: B, metric: 9 })
  })

  it('stop() retracts its own routes and itself (with a new seqno) at every neighbour, then goes quiet', () => {
    const h = harness()
    h.table.linkUp(A, 1)
    h.table.linkUp(B, 1)
    h.table.receive(A, upd([[C, 1, 1, 1]]))
    h.advance(100)
    h.sent.length = 0
    h.table.stop()
    for (const peer of [A, B]) {
      const entries = h.updatesTo(peer)
      expect(entries.every(e => e.metric === INFINITY_METRIC)).toBe(true)
      expect(entries.find(e => e.dest.key === SELF.key)?.seqno).toBe(101)
    }
    expect(h.updatesTo(B).map(e => e.dest.key)).toContain(C.key)
    h.sent.length = 0
    h.table.receive(A, upd([[D, 1, 1, 1]]))
    h.advance(100_000)
    expect(h.sent).toHaveLength(0)
  })
})
