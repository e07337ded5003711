/** A small seeded PRNG (mulberry32): the simulator's only source of randomness, so a seed replays exactly. */
export interface Rng {
  /** uniform in [0, 1) */
  next(): number
  /** integer in [min, max] */
  int(min: number, max: number): number
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  /** an independent generator derived from this one */
  fork(): Rng
}

/**
 * @example
 * ```ts
 * const rng = createRng(42)
 * rng.int(1, 6) // the same sequence for seed 42 every run
 * ```
 */
export function createRng(seed: number): Rng {
  let a = seed >>> 0 || 0x9e3779b9
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: p => next() < p,
    pick: items => items[Math.floor(next() * items.length)]!,
    fork: () => createRng(Math.floor(next() * 4294967296)),
  }
  return rng
}
