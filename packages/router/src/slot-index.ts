/**
 * Where a destination lives in the routing table: an open-addressing hash index from peer key to slot number, kept
 * in one Int32Array. A routing table knows every destination of the network, and a simulator runs thousands of
 * tables in one process; a `Map<string, number>` costs ~30 bytes per entry, this costs 5 to 11 (4-byte cells, 3/8 to
 * 3/4 full). The keys themselves stay in the table's own slot array, which the index reads to compare and rehash.
 *
 * Linear probing on the peer key's precomputed hash (`h1`, already well mixed), with backward-shift deletion, so
 * there are no tombstones and lookups never degrade after churn.
 *
 * @example
 * ```ts
 * const keys: (PeerKey | undefined)[] = []
 * const index = new SlotIndex(keys)
 * keys[3] = peer
 * index.set(peer, 3)
 * index.get(peer)     // 3
 * index.delete(peer)  // before keys[3] is cleared
 * ```
 */
import type { PeerKey } from './peer-key.js'

const MIN_CELLS = 16

export class SlotIndex {
  /** slot + 1 per cell; 0 is empty */
  #cells = new Int32Array(MIN_CELLS)
  #mask = MIN_CELLS - 1
  #size = 0
  readonly #keys: readonly (PeerKey | undefined)[]

  /** `keys[slot]` must hold the key of every indexed slot for as long as it is indexed */
  constructor(keys: readonly (PeerKey | undefined)[]) {
    this.#keys = keys
  }

  /** keys indexed */
  get size(): number {
    return this.#size
  }

  /** bytes held */
  get bytes(): number {
    return this.#cells.byteLength
  }

  /** The slot of `key` (compared by identity, then by content), or undefined. */
  get(key: PeerKey): number | undefined {
    const cells = this.#cells
    const mask = this.#mask
    for (let p = key.h1 & mask; ; p = (p + 1) & mask) {
      const v = cells[p] ?? 0
      if (v === 0) return undefined
      const k = this.#keys[v - 1]
      if (k === key || k?.key === key.key) return v - 1
    }
  }

  /** Indexes `slot` under `key`, which must not be indexed yet. */
  set(key: PeerKey, slot: number): void {
    if ((this.#size + 1) * 4 > this.#cells.length * 3) this.#rehash(this.#cells.length * 2)
    this.#place(key.h1, slot + 1)
    this.#size++
  }

  /** Removes `key`, if indexed; `keys[slot]` must still hold it during the call. */
  delete(key: PeerKey): void {
    const cells = this.#cells
    const mask = this.#mask
    let p = key.h1 & mask
    for (; ; p = (p + 1) & mask) {
      const v = cells[p] ?? 0
      if (v === 0) return
      const k = this.#keys[v - 1]
      if (k === key || k?.key === key.key) break
    }
    this.#size--
    // backward shift: later entries of the same probe run move up so no lookup stops at the hole
    let hole = p
    cells[hole] = 0
    for (let q = (hole + 1) & mask; ; q = (q + 1) & mask) {
      const v = cells[q] ?? 0
      if (v === 0) return
      const home = (this.#keys[v - 1]?.h1 ?? 0) & mask
      // the entry at q may fill the hole unless its home lies cyclically in (hole, q]
      const stays = hole <= q ? hole < home && home <= q : hole < home || home <= q
      if (stays) continue
      cells[hole] = v
      cells[q] = 0
      hole = q
    }
  }

  #place(hash: number, value: number): void {
    const cells = this.#cells
    const mask = this.#mask
    let p = hash & mask
    while ((cells[p] ?? 0) !== 0) p = (p + 1) & mask
    cells[p] = value
  }

  #rehash(size: number): void {
    const old = this.#cells
    this.#cells = new Int32Array(size)
    this.#mask = size - 1
    for (const v of old) if (v !== 0) this.#place(this.#keys[v - 1]?.h1 ?? 0, v)
  }
}
