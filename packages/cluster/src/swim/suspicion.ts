/**
 * Lifeguard's dynamic suspicion timeout. A suspicion starts at `max`; each independent confirmation (another
 * member's own suspect statement at the same incarnation) brings it closer to `min`, logarithmically, reaching
 * `min` at `k` confirmations. A lone (possibly slow) accuser thus waits long enough for the accused to refute,
 * while a member that many find unreachable is declared dead quickly.
 *
 * @example
 * ```ts
 * suspicionTimeout(0, 2, 5_000, 30_000)   // 30_000
 * suspicionTimeout(2, 2, 5_000, 30_000)   // 5_000
 * ```
 */
export function suspicionTimeout(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs
  const frac = Math.log(Math.min(confirmations, k) + 1) / Math.log(k + 1)
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)))
}

/**
 * memberlist's scaling: the floor grows with log10 of the cluster size, so bigger clusters wait a bit longer.
 *
 * @example
 * ```ts
 * suspicionFloor(4, 16, 1_000)   // 4_816 ms
 * ```
 */
export function suspicionFloor(mult: number, members: number, probeIntervalMs: number): number {
  return Math.floor(mult * Math.max(1, Math.log10(Math.max(1, members))) * probeIntervalMs)
}

/**
 * Gossip is piggybacked on this many messages: mult × ⌈log10(N + 1)⌉ (λ·log N in the SWIM paper).
 *
 * @example
 * ```ts
 * retransmitLimit(6, 64)   // 12
 * ```
 */
export function retransmitLimit(mult: number, members: number): number {
  return mult * Math.max(1, Math.ceil(Math.log10(members + 1)))
}
