import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { PeerKey } from '../src/peer-key.js'
import { SlotIndex } from '../src/slot-index.js'

/** the index reads only `key` and `h1`; a few distinct hash values force long probe runs and wrap-around */
function fakeKey(id: number, h1: number): PeerKey {
  return { key: `peer-${id}`, h1, h2: 0 } as PeerKey
}

describe('slot index', () => {
  it('agrees with a Map through any sequence of inserts and deletes, colliding hashes included', () => {
    fc.assert(
      fc.property(
        // at most 11 keys: the table keeps its first 16 cells, so probe runs wrap around its end
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 10 })), { maxLength: 200 }),
        fc.constantFrom(1, 7, 0xffffffff, 1 << 30),
        (ops, spread) => {
          const keys: (PeerKey | undefined)[] = []
          const index = new SlotIndex(keys)
          const model = new Map<number, number>()
          // ids share hash values in groups of 3; with -1 as the spread they sit in the last cells and cell 0
          const byId = Array.from({ length: 11 }, (_, id) => fakeKey(id, (Math.floor(id / 3) * spread) >>> 0))
          let nextSlot = 0
          for (const [insert, id] of ops) {
            const key = byId[id]!
            if (insert && !model.has(id)) {
              const slot = nextSlot++
              keys[slot] = key
              index.set(key, slot)
              model.set(id, slot)
            } else if (!insert && model.has(id)) {
              index.delete(key)
              keys[model.get(id)!] = undefined
              model.delete(id)
            }
            expect(index.size).toBe(model.size)
          }
          for (const [id, key] of byId.entries()) expect(index.get(key)).toBe(model.get(id))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('finds a key by its content when another object stands for the same peer', () => {
    const keys: (PeerKey | undefined)[] = [fakeKey(1, 5)]
    const index = new SlotIndex(keys)
    index.set(keys[0]!, 0)
    expect(index.get(fakeKey(1, 5))).toBe(0)
    expect(index.get(fakeKey(2, 5))).toBeUndefined()
  })

  it('grows past three quarters full and stays small: 32 KiB (6.6 bytes a key) for 5,000 keys', () => {
    const keys: (PeerKey | undefined)[] = []
    const index = new SlotIndex(keys)
    for (let i = 0; i < 5_000; i++) {
      keys[i] = fakeKey(i, Math.imul(i + 1, 0x9e3779b1) >>> 0)
      index.set(keys[i]!, i)
    }
    for (let i = 0; i < 5_000; i++) expect(index.get(keys[i]!)).toBe(i)
    expect(index.bytes).toBe(8_192 * 4)
  })
})
