import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRing, InvalidClusterArgumentError } from '../src/index.js'

const KEYS = 100_000
const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
const ids = (n: number, prefix = 'member') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}` }))

describe('consistent hash ring', () => {
  // Adding one member to N equal ones should move exactly the keys the new member now owns: 1/(N+1) of them in
  // expectation. The bound is ±10% of that (relative); with 1,024 points per member the new member's
  // share has a relative sd of ~3%, so this holds at >3σ for every N and ID prefix below.
  for (const n of [3, 15, 63]) {
    for (const prefix of ['m', '12D3KooW']) {
      it(`adding a member to ${n} (${prefix}…) moves 1/(N+1) ± 10% of ${KEYS} keys, all to the new member`, () => {
        const ring = createRing({ members: ids(n, prefix) })
        const before = keys.map(k => ring.find(k)[0])
        ring.insert({ id: `${prefix}-new` })
        let moved = 0
        keys.forEach((k, i) => {
          const now = ring.find(k)[0]
          if (now !== before[i]) {
            moved++
            expect(now).toBe(`${prefix}-new`)
          }
        })
        const expected = KEYS / (n + 1)
        expect(Math.abs(moved - expected) / expected).toBeLessThan(0.1)
        // and removing it again restores every key
        ring.remove(`${prefix}-new`)
        keys.forEach((k, i) => {
          if (i % 97 === 0) expect(ring.find(k)[0]).toBe(before[i])
        })
      })
    }
  }

  // Shares follow weights. A member with weight w has w·1,024 points; the relative sd of its share is about
  // 1/√(w·1024) ≤ 3.1%, and sampling 100,000 keys adds ≤ 1% more for the smallest share (10%). A 12% relative
  // tolerance is therefore >3σ for every member while still catching an off-by-a-weight bug (which is ≥ 25%).
  it('weights 1:2:3:4 give shares 10/20/30/40% within 12% relative', () => {
    const ring = createRing({
      members: [
        { id: 'w1', weight: 1 },
        { id: 'w2', weight: 2 },
        { id: 'w3', weight: 3 },
        { id: 'w4', weight: 4 },
      ],
    })
    const count = new Map<string, number>()
    for (const k of keys) {
      const o = ring.find(k)[0]!
      count.set(o, (count.get(o) ?? 0) + 1)
    }
    for (const [id, w] of [
      ['w1', 1],
      ['w2', 2],
      ['w3', 3],
      ['w4', 4],
    ] as const) {
      const expected = (KEYS * w) / 10
      expect(Math.abs((count.get(id) ?? 0) - expected) / expected, id).toBeLessThan(0.12)
    }
  })

  it('weight 0 owns nothing; changing a weight re-balances', () => {
    const ring = createRing({ members: [{ id: 'a' }, { id: 'b', weight: 0 }] })
    expect(keys.slice(0, 1000).every(k => ring.find(k, 3).join() === 'a')).toBe(true)
    ring.insert({ id: 'b', weight: 1 })
    expect(new Set(keys.slice(0, 1000).map(k => ring.find(k)[0])).size).toBe(2)
    expect(ring.weight('b')).toBe(1)
  })

  it('find(key, n) always returns min(n, members) distinct owners, primary first (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 0, maxLength: 12 }),
        fc.string(),
        fc.integer({ min: 1, max: 15 }),
        (members, key, n) => {
          const ring = createRing({ members: members.map(id => ({ id })), vnodesPerWeight: 16 })
          const owners = ring.find(key, n)
          expect(owners.length).toBe(Math.min(n, members.length))
          expect(new Set(owners).size).toBe(owners.length)
          for (const o of owners) expect(members).toContain(o)
          if (owners.length > 0) expect(owners[0]).toBe(ring.find(key, 1)[0])
        },
      ),
      { numRuns: 300 },
    )
  })

  it('every member builds the same ring whatever the insertion order', () => {
    const a = createRing({ members: ids(20) })
    const b = createRing({ members: ids(20).reverse() })
    for (const k of keys.slice(0, 2000)) expect(b.find(k, 3)).toEqual(a.find(k, 3))
  })

  it('rejects bad weights, ids and n with InvalidClusterArgumentError', () => {
    const ring = createRing()
    expect(ring.find('x')).toEqual([])
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => ring.insert({ id: 'a', weight: bad })).toThrow(InvalidClusterArgumentError)
    }
    expect(() => ring.insert({ id: '' })).toThrow(InvalidClusterArgumentError)
    expect(() => ring.insert({ id: 'huge', weight: 1e6 })).toThrow(InvalidClusterArgumentError)
    expect(ring.has('huge')).toBe(false)
    expect(() => ring.find('x', 0)).toThrow(InvalidClusterArgumentError)
  })
})
