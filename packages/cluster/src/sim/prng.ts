/**
 * A small seeded PRNG for simulations: a Weyl sequence through murmur3's 32-bit finaliser. Not for cryptography;
 * good enough that shuffles and losses do not correlate across members.
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * random()   // same value on every run with seed 42
 * ```
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    z ^= z >>> 16
    return (z >>> 0) / 2 ** 32
  }
}
