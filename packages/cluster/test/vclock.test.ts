import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareVClocks,
  createVClock,
  decodeVClock,
  encodeVClock,
  incrementVClock,
  MalformedClusterDataError,
  mergeVClocks,
  pruneVClock,
  type VClock,
  vclockCounter,
} from '../src/index.js'

const actors = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'peer-f', '12D3KooWxyz')
/** a clock built by a random history of increments and merges, as real clocks are */
const clockArb: fc.Arbitrary<VClock> = fc
  .array(fc.tuple(actors, fc.integer({ min: 0, max: 2 ** 41 })), { maxLength: 20 })
  .map(steps => steps.reduce((c, [actor, now]) => incrementVClock(c, actor, { now }), createVClock()))

const same = (a: VClock, b: VClock) => expect(a.entries).toEqual(b.entries)

describe('vector clocks', () => {
  it('increment, compare: before / after / equal / concurrent', () => {
    const a = incrementVClock(createVClock(), 'alice', { now: 1 })
    const b = incrementVClock(a, 'bob', { now: 2 })
    const c = incrementVClock(a, 'carol', { now: 3 })
    expect(compareVClocks(a, b)).toBe('before')
    expect(compareVClocks(b, a)).toBe('after')
    expect(compareVClocks(b, b)).toBe('equal')
    expect(compareVClocks(b, c)).toBe('concurrent')
    const m = mergeVClocks(b, c)
    expect(m.entries.map(e => [e.actor, e.counter])).toEqual([
      ['alice', 1],
      ['bob', 1],
      ['carol', 1],
    ])
    expect(vclockCounter(incrementVClock(m, 'bob'), 'bob')).toBe(2)
  })

  it('merge is commutative, associative and idempotent (property)', () => {
    fc.assert(
      fc.property(clockArb, clockArb, clockArb, (a, b, c) => {
        same(mergeVClocks(a, b), mergeVClocks(b, a))
        same(mergeVClocks(mergeVClocks(a, b), c), mergeVClocks(a, mergeVClocks(b, c)))
        same(mergeVClocks(a, a), a)
      }),
      { numRuns: 500 },
    )
  })

  it('compare agrees with merge (property)', () => {
    fc.assert(
      fc.property(clockArb, clockArb, (a, b) => {
        const m = mergeVClocks(a, b)
        const order = compareVClocks(a, b)
        // the merge descends from both
        expect(['before', 'equal']).toContain(compareVClocks(a, m))
        expect(['before', 'equal']).toContain(compareVClocks(b, m))
        // a ≤ b exactly when merging a into b changes no counter of b
        const aLeB = compareVClocks(m, b) === 'equal'
        const bLeA = compareVClocks(m, a) === 'equal'
        expect(order).toBe(aLeB && bLeA ? 'equal' : aLeB ? 'before' : bLeA ? 'after' : 'concurrent')
        // antisymmetry
        const flipped = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const
        expect(compareVClocks(b, a)).toBe(flipped[order])
      }),
      { numRuns: 500 },
    )
  })

  it('increment always moves a clock strictly after itself (property)', () => {
    fc.assert(
      fc.property(clockArb, actors, (c, actor) => {
        expect(compareVClocks(c, incrementVClock(c, actor))).toBe('before')
      }),
    )
  })

  it('encode / decode round trip, canonical bytes (property)', () => {
    fc.assert(
      fc.property(clockArb, c => {
        const bytes = encodeVClock(c)
        const back = decodeVClock(bytes)
        same(back, c)
        expect(encodeVClock(back)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })

  it('the decoder rejects bad input with MalformedClusterDataError, never anything else (property)', () => {
    const good = encodeVClock(incrementVClock(incrementVClock(createVClock(), 'a', { now: 300 }), 'b', { now: 5 }))
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), 'truncated'],
      [good.subarray(0, good.length - 1), 'truncated'],
      [Uint8Array.of(...good, 0), 'trailing'],
      [Uint8Array.of(0x80, 0x00), 'non-minimal'],
      [Uint8Array.of(0x01, 0x01, 0x61, 0x00, 0x01), 'zero'], // counter 0
      [Uint8Array.of(0x02, 0x01, 0x62, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01), 'ascending'], // b before a
      [Uint8Array.of(0x02, 0x01, 0x61, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01), 'ascending'], // duplicate
      [Uint8Array.of(0x01, 0x00, 0x01, 0x01), 'empty'],
      [Uint8Array.of(0x01, 0x01, 0xff, 0x01, 0x01), 'UTF-8'],
      [Uint8Array.of(0xff, 0xff, 0x03), 'more than'], // count past maxEntries
      [Uint8Array.of(0x01, 0x01, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01), 'too long'],
    ]
    for (const [bytes, reason] of cases) {
      const err = (() => {
        try {
          decodeVClock(bytes)
        } catch (e) {
          return e
        }
      })()
      expect(err, reason).toBeInstanceOf(MalformedClusterDataError)
      expect((err as MalformedClusterDataError).code).toBe('ERR_MALFORMED_CLUSTER_DATA')
      expect((err as MalformedClusterDataError).name).toBe('MalformedClusterDataError')
      expect((err as MalformedClusterDataError).reason).toContain(reason)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), bytes => {
        try {
          const c = decodeVClock(bytes)
          expect(encodeVClock(c)).toEqual(bytes) // anything accepted is canonical
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedClusterDataError)
        }
      }),
      { numRuns: 2_000 },
    )
  })

  it('prune by age, then by size keeping the newest', () => {
    let c = createVClock()
    for (let i = 0; i < 10; i++) c = incrementVClock(c, `n${i}`, { now: 1000 + i * 100 })
    const byAge = pruneVClock(c, { maxAgeMs: 450, now: 2000 })
    expect(byAge.entries.map(e => e.actor)).toEqual(['n6', 'n7', 'n8', 'n9'])
    const bySize = pruneVClock(c, { maxEntries: 3, now: 2000 })
    expect(bySize.entries.map(e => e.actor)).toEqual(['n7', 'n8', 'n9'])
    expect(pruneVClock(c, { maxEntries: 100, now: 2000 })).toBe(c)
  })
})
