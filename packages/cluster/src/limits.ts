/**
 * Every bound and timer of @pnet/cluster in one place, with its default and why. Options override them field by
 * field (`createSwim({ config })`, `createRing({ vnodesPerWeight })`).
 */

/** Bounds of an encoded vector clock. */
export const VCLOCK_LIMITS = Object.freeze({
  // A clock per value grows by one entry per writer; far past a few hundred writers it should be pruned anyway,
  // and a decoder must not let a peer make it allocate without bound.
  maxEntries: 4_096,
  // Actors are peer IDs (52 bytes as base58 Ed25519) or short replica names; 256 bytes leaves room without waste.
  maxActorBytes: 256,
})

/**
 * Ring points per unit of weight. A member's share of the ring is the sum of its arcs; with V points its relative
 * standard deviation is about 1/√V, so 1,024 points keep a weight-1 member's share within ±10% at more than 3σ
 * (the 1/(N+1) ± 10% when a member is added). Cost: 16 bytes per point (64 members ≈ 1 MiB); fleets of
 * thousands of members can lower it and accept a wider spread.
 */
export const DEFAULT_VNODES_PER_WEIGHT = 1_024

/** Bounds of a hash ring. */
export const RING_LIMITS = Object.freeze({
  // 4 Mi points × 16 bytes = 64 MiB: a hard stop against a weight typo (1e6 instead of 1) eating the heap.
  maxPoints: 4 * 1024 * 1024,
  // Member IDs are peer IDs; a bound keeps hashing cost and memory per member fixed.
  maxMemberIdBytes: 256,
})
