import { describe, expect, it } from 'vitest'
import {
  createSwim,
  DEFAULT_SWIM_CONFIG,
  type Gossip,
  InvalidClusterArgumentError,
  type MembershipEvent,
  type Swim,
  type SwimMessage,
  type SwimOutput,
  suspicionTimeout,
} from '../src/index.js'
import { seededRandom } from '../src/sim/index.js'

const meta = { tags: {}, weight: 1 }
const alive = (id: string, incarnation: number, address = `/a/${id}`): Gossip => ({
  type: 'alive',
  id,
  address,
  incarnation,
  meta,
})
const B = { id: 'b', address: '/a/b' }
const C = { id: 'c', address: '/a/c' }

/** a machine `a` that already knows b, c, d (and no others) */
function known(config = {}): Swim {
  const a = createSwim({ id: 'a', address: '/a/a', now: 0, random: seededRandom(1), config })
  a.receive(0, B, { type: 'gossip', gossip: [alive('b', 0), alive('c', 0), alive('d', 0)] })
  return a
}
/** ticks at each deadline until `a` sends a message of `type` (gossip timers may come first) */
function tickUntil(
  a: Swim,
  type: SwimMessage['type'],
): { t: number; out: SwimOutput; sent: SwimOutput['send'][number] } {
  for (let i = 0; i < 1_000; i++) {
    const t = a.nextDeadline()
    const out = a.tick(t)
    const sent = out.send.find(s => s.message.type === type)
    if (sent) return { t, out, sent }
  }
  throw new Error(`no ${type} sent`)
}
const events = (o: SwimOutput, type?: string) => o.events.filter(e => type === undefined || e.type === type)
const gossipOf = (m: SwimMessage): Gossip[] => (m.type === 'push-pull' ? [] : m.gossip)

describe('suspicion timeout (Lifeguard)', () => {
  it('starts at max and reaches min at k independent confirmations, never below', () => {
    expect(suspicionTimeout(0, 2, 5_000, 30_000)).toBe(30_000)
    const one = suspicionTimeout(1, 2, 5_000, 30_000)
    expect(one).toBeLessThan(30_000)
    expect(one).toBeGreaterThan(5_000)
    expect(suspicionTimeout(2, 2, 5_000, 30_000)).toBe(5_000)
    expect(suspicionTimeout(9, 2, 5_000, 30_000)).toBe(5_000)
    expect(suspicionTimeout(0, 0, 5_000, 30_000)).toBe(5_000)
  })
})

describe('SWIM state machine', () => {
  it('rejects nonsense config with InvalidClusterArgumentError naming the field', () => {
    expect(() =>
      createSwim({ id: 'a', address: 'x', now: 0, random: Math.random, config: { probeTimeoutMs: 2_000 } }),
    ).toThrow(InvalidClusterArgumentError)
    expect(() =>
      createSwim({ id: 'a', address: 'x', now: 0, random: Math.random, config: { probeIntervalMs: -1 } }),
    ).toThrow(/config.probeIntervalMs/)
  })

  it('join sends a push-pull to each seed; the reply lists everyone; members() includes self', () => {
    const a = createSwim({ id: 'a', address: '/a/a', now: 0, random: Math.random })
    const out = a.join(0, [{ address: '/a/b' }, { address: '/a/a' }])
    expect(out.send).toHaveLength(1)
    expect(out.send[0]!.message).toMatchObject({ type: 'push-pull', join: true, reply: false })
    const got = a.receive(1, B, {
      type: 'push-pull',
      reply: true,
      join: false,
      statements: [alive('b', 3), alive('c', 1)],
    })
    expect(events(got, 'join').map(e => e.member.id)).toEqual(['b', 'c'])
    expect(a.members().map(m => [m.id, m.status])).toEqual([
      ['a', 'alive'],
      ['b', 'alive'],
      ['c', 'alive'],
    ])
  })

  it('refutes a suspicion of itself with a higher incarnation, gossiped on the next message', () => {
    const a = known()
    const out = a.receive(10, B, {
      type: 'ping',
      seq: 1,
      target: 'a',
      gossip: [{ type: 'suspect', id: 'a', incarnation: 0, from: 'b' }],
    })
    expect(a.incarnation).toBe(1)
    expect(a.counters.refutations).toBe(1)
    expect(a.health).toBe(1) // Lifeguard: being suspected hints that we are the slow one
    const ack = out.send.find(s => s.message.type === 'ack')!
    expect(gossipOf(ack.message)).toContainEqual(expect.objectContaining({ type: 'alive', id: 'a', incarnation: 1 }))
    // a stale accusation (lower incarnation) is ignored
    a.receive(11, B, { type: 'gossip', gossip: [{ type: 'dead', id: 'a', incarnation: 0, from: 'b' }] })
    expect(a.incarnation).toBe(1)
  })

  it('precedence by incarnation: suspect(i) beats alive(i), alive(i+1) clears it, dead(i) is final for i', () => {
    const a = known()
    let o = a.receive(1, B, { type: 'gossip', gossip: [{ type: 'suspect', id: 'c', incarnation: 0, from: 'b' }] })
    expect(events(o, 'suspect')[0]).toMatchObject({ member: { id: 'c', status: 'suspect' }, by: 'b' })
    o = a.receive(2, B, { type: 'gossip', gossip: [alive('c', 0)] })
    expect(a.member('c')!.status).toBe('suspect')
    o = a.receive(3, B, { type: 'gossip', gossip: [alive('c', 1)] })
    expect(events(o, 'alive')).toHaveLength(1)
    expect(a.member('c')!.status).toBe('alive')
    o = a.receive(4, B, { type: 'gossip', gossip: [{ type: 'dead', id: 'c', incarnation: 1, from: 'b' }] })
    expect(events(o, 'dead')[0]).toMatchObject({ member: { id: 'c', status: 'dead', changedAt: 4 }, by: 'b' })
    a.receive(5, B, { type: 'gossip', gossip: [alive('c', 1)] })
    expect(a.member('c')!.status).toBe('dead')
  })

  it('a member back on a new address with the same ID and a higher incarnation is an update, not a conflict', () => {
    const a = known()
    const o = a.receive(1, B, { type: 'gossip', gossip: [alive('c', 5, '/elsewhere/c')] })
    expect(events(o).map(e => e.type)).toEqual(['update'])
    expect(a.member('c')).toMatchObject({ address: '/elsewhere/c', incarnation: 5, status: 'alive' })
    // and the restarted member itself outbids a stale statement about its previous life
    const c = createSwim({ id: 'c', address: '/new/c', now: 0, random: Math.random })
    c.receive(1, B, { type: 'gossip', gossip: [alive('c', 7, '/old/c')] })
    expect(c.incarnation).toBe(8)
  })

  it('a graceful leave is `left`, not `dead`; dead and left stay listed until reaped (72 h by default)', () => {
    const a = known()
    const o = a.receive(1, C, { type: 'gossip', gossip: [{ type: 'leave', id: 'c', incarnation: 0 }] })
    expect(events(o).map(e => e.type)).toEqual(['left'])
    a.receive(2, B, { type: 'gossip', gossip: [{ type: 'dead', id: 'd', incarnation: 0, from: 'b' }] })
    expect(a.members().map(m => m.status)).toEqual(['alive', 'alive', 'left', 'dead'])
    const hour = 3600_000
    a.tick(71 * hour)
    expect(a.member('c')).toBeDefined()
    const reaped = a.tick(72 * hour + 2_000)
    expect(
      events(reaped, 'reap')
        .map(e => e.member.id)
        .sort(),
    ).toEqual(['c', 'd'])
    expect(a.members().map(m => m.id)).toEqual(['a', 'b'])
    expect(DEFAULT_SWIM_CONFIG.reapAfterMs).toBe(72 * hour)
  })

  it('probe: ping, then ping-req to k members with nack requested, then suspicion; missing nacks raise LHM', () => {
    const a = known()
    const { sent: ping } = tickUntil(a, 'ping')
    const target = ping.to!
    const { t: at, out: o } = tickUntil(a, 'ping-req') // the probe timeout
    let t = at
    const reqs = o.send.filter(s => s.message.type === 'ping-req')
    expect(reqs).toHaveLength(2) // k = 3, but only two others exist
    expect(reqs.every(r => r.message.type === 'ping-req' && r.message.nack && r.message.target === target)).toBe(true)
    const seq = (ping.message as { seq: number }).seq
    a.receive(t + 10, { id: reqs[0]!.to!, address: reqs[0]!.address }, { type: 'nack', seq, gossip: [] })
    // end of the interval: one nack of two expected → health +1, and the target is suspected
    let ev: MembershipEvent[] = []
    while (ev.length === 0) {
      t = a.nextDeadline()
      ev = events(a.tick(t), 'suspect')
    }
    expect(ev[0]).toMatchObject({ member: { id: target }, by: 'a' })
    expect(a.health).toBe(1)
    // the next probe interval and timeout are scaled by LHM + 1
  })

  it('an ack lowers LHM; a relayed probe forwards the ack, or a nack when the target stays silent', () => {
    const a = known()
    a.receive(0, B, { type: 'gossip', gossip: [{ type: 'suspect', id: 'a', incarnation: 0, from: 'b' }] })
    expect(a.health).toBe(1)
    const { t, sent: ping } = tickUntil(a, 'ping')
    a.receive(
      t + 1,
      { id: ping.to!, address: ping.address },
      {
        type: 'ack',
        seq: (ping.message as { seq: number }).seq,
        gossip: [],
      },
    )
    expect(a.health).toBe(0)
    // relay role
    const r = a.receive(100_000, B, {
      type: 'ping-req',
      seq: 77,
      target: 'c',
      targetAddress: '/a/c',
      nack: true,
      gossip: [],
    })
    const relayed = r.send.find(s => s.message.type === 'ping' && s.to === 'c')!
    const fwd = a.receive(100_010, C, { type: 'ack', seq: (relayed.message as { seq: number }).seq, gossip: [] })
    expect(fwd.send.find(s => s.message.type === 'ack')).toMatchObject({ to: 'b', message: { seq: 77 } })
    a.receive(200_000, B, { type: 'ping-req', seq: 78, target: 'c', targetAddress: '/a/c', nack: true, gossip: [] })
    const later = a.tick(200_000 + DEFAULT_SWIM_CONFIG.probeTimeoutMs)
    expect(later.send.find(s => s.message.type === 'nack')).toMatchObject({ to: 'b', message: { seq: 78 } })
  })

  it('buddy system: a ping to a suspect carries the suspicion first', () => {
    const a = known()
    a.receive(0, B, {
      type: 'gossip',
      gossip: [
        { type: 'suspect', id: 'c', incarnation: 0, from: 'b' },
        { type: 'suspect', id: 'd', incarnation: 0, from: 'b' },
      ],
    })
    const pings: SwimMessage[] = []
    let t = 0
    while (pings.length < 3) {
      t = a.nextDeadline()
      for (const s of a.tick(t).send) if (s.message.type === 'ping') pings.push(s.message)
      // answer every ping so nothing escalates
      for (const m of pings) a.receive(t, B, { type: 'ack', seq: (m as { seq: number }).seq, gossip: [] })
    }
    const toSuspect = pings.filter(p => p.type === 'ping' && p.target !== 'b')
    expect(toSuspect.length).toBeGreaterThan(0)
    for (const p of toSuspect) {
      expect(gossipOf(p)[0]).toMatchObject({ type: 'suspect', id: (p as { target: string }).target, from: 'a' })
    }
  })

  it('plain SWIM mode: no nacks, no LHM, fixed suspicion timeout', () => {
    const a = known({ lifeguard: false })
    const { out: o } = tickUntil(a, 'ping-req')
    expect(
      o.send.filter(s => s.message.type === 'ping-req').every(s => (s.message as { nack: boolean }).nack === false),
    ).toBe(true)
    a.receive(1, B, { type: 'gossip', gossip: [{ type: 'suspect', id: 'a', incarnation: 5, from: 'b' }] })
    expect(a.health).toBe(0)
  })

  it('metadata update bumps the incarnation and reaches others as an update event', () => {
    const a = known()
    const o = a.updateMeta(5, { tags: { role: 'db' }, weight: 2 })
    expect(o.send).toHaveLength(0)
    expect(a.incarnation).toBe(1)
    const b = createSwim({ id: 'b', address: '/a/b', now: 0, random: Math.random })
    b.receive(0, { id: 'a', address: '/a/a' }, { type: 'gossip', gossip: [alive('a', 0)] })
    const out = a.tick(a.nextDeadline())
    const carrying = out.send.find(s => gossipOf(s.message).some(g => g.id === 'a'))!
    const got = b.receive(10, { id: 'a', address: '/a/a' }, carrying.message)
    expect(events(got, 'update')[0]!.member.meta).toEqual({ tags: { role: 'db' }, weight: 2 })
  })

  it('flap damping: a member that keeps dying is held back (no events) until its penalty decays', () => {
    // no probing or exchanges here: only the damping bookkeeping runs
    const a = known({
      probeIntervalMs: 1e12,
      probeTimeoutMs: 1e11,
      pushPullIntervalMs: 1e12,
      reconnectIntervalMs: 1e12,
    })
    let inc = 0
    const seen: string[] = []
    const feed = (t: number, g: Gossip) => {
      for (const e of a.receive(t, B, { type: 'gossip', gossip: [g] }).events)
        if (e.member.id === 'c') seen.push(e.type)
    }
    for (let i = 0; i < 3; i++) {
      feed(i * 1000, { type: 'dead', id: 'c', incarnation: inc, from: 'b' })
      feed(i * 1000 + 500, alive('c', ++inc))
    }
    // deaths 1 and 2 are reported with their returns; the third return finds the penalty past the threshold
    expect(seen).toEqual(['dead', 'join', 'dead', 'join', 'dead'])
    expect(a.member('c')).toMatchObject({ status: 'alive', damped: true })
    // the penalty halves every 10 min: ~3,000 → below 750 after ~2 half-lives
    let t = 3_000
    while (a.member('c')!.damped && t < 3600_000) {
      for (const e of a.tick(t).events) if (e.member.id === 'c') seen.push(e.type)
      t += 60_000
    }
    expect(a.member('c')!.damped).toBe(false)
    expect(seen.at(-1)).toBe('join')
    expect(t).toBeGreaterThan(20 * 60_000)
  })
})
