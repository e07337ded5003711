import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createSwim, type Gossip, type SwimMessage } from '../src/index.js'
import { seededRandom } from '../src/sim/index.js'

const ids = ['self', 'p1', 'p2', 'p3', 'p4']
const id = fc.constantFrom(...ids)
const inc = fc.nat(6)
const gossip: fc.Arbitrary<Gossip> = fc.oneof(
  fc.record({
    type: fc.constant('alive' as const),
    id,
    address: fc.constantFrom('/a/1', '/a/2', '/a/3'),
    incarnation: inc,
    meta: fc.record({
      tags: fc.dictionary(fc.constantFrom('k', 'role'), fc.string({ maxLength: 3 })),
      weight: fc.nat(3),
    }),
  }),
  fc.record({ type: fc.constantFrom('suspect' as const, 'dead' as const), id, incarnation: inc, from: id }),
  fc.record({ type: fc.constant('leave' as const), id, incarnation: inc }),
)
const message: fc.Arbitrary<SwimMessage> = fc.oneof(
  fc.record({
    type: fc.constant('ping' as const),
    seq: fc.nat(20),
    target: id,
    gossip: fc.array(gossip, { maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant('ping-req' as const),
    seq: fc.nat(20),
    target: id,
    targetAddress: fc.constant('/a/9'),
    nack: fc.boolean(),
    gossip: fc.array(gossip, { maxLength: 4 }),
  }),
  fc.record({
    type: fc.constantFrom('ack' as const, 'nack' as const),
    seq: fc.nat(20),
    gossip: fc.array(gossip, { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant('gossip' as const), gossip: fc.array(gossip, { maxLength: 4 }) }),
  fc.record({
    type: fc.constant('push-pull' as const),
    reply: fc.boolean(),
    join: fc.boolean(),
    statements: fc.array(gossip, { maxLength: 8 }),
  }),
)
const input = fc.oneof(
  fc.record({ kind: fc.constant('tick' as const), dt: fc.nat(5_000) }),
  fc.record({ kind: fc.constant('receive' as const), dt: fc.nat(300), from: id, message }),
  fc.record({ kind: fc.constant('meta' as const), dt: fc.nat(100) }),
)

describe('SWIM state machine under arbitrary input (property)', () => {
  it('never throws; self stays listed and alive; incarnation never decreases; every member has a valid status', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 80 }), fc.boolean(), (inputs, lifeguard) => {
        const m = createSwim({ id: 'self', address: '/a/self', now: 0, random: seededRandom(3), config: { lifeguard } })
        let now = 0
        let incarnation = 0
        for (const i of inputs) {
          now += i.dt
          if (i.kind === 'tick') m.tick(now)
          else if (i.kind === 'receive') m.receive(now, { id: i.from, address: `/a/${i.from}` }, i.message)
          else m.updateMeta(now, { tags: { t: String(now) } })
          expect(m.incarnation).toBeGreaterThanOrEqual(incarnation)
          incarnation = m.incarnation
          expect(m.member('self')!.status).toBe('alive')
          for (const x of m.members()) expect(['alive', 'suspect', 'dead', 'left']).toContain(x.status)
          expect(m.health).toBeGreaterThanOrEqual(0)
          expect(m.health).toBeLessThan(8)
          expect(Number.isFinite(m.nextDeadline())).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})
