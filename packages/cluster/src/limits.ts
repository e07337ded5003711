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

/**
 * Timers and knobs of the SWIM + Lifeguard membership state machine. Defaults follow hashicorp/memberlist's LAN
 * profile (what Serf and Consul run), so detection times compare with Serf's measured 6–8 s at 16 members.
 */
export interface SwimConfig {
  /** Lifeguard extensions on (default). Off = plain SWIM with suspicion: fixed suspicion timeout, no local health
   * multiplier, no nacks, no buddy system; kept for comparison in the simulator */
  lifeguard: boolean
  /** one probe per interval, scaled by (LHM + 1) under Lifeguard */
  probeIntervalMs: number
  /** wait for a direct ack before asking others (scaled by LHM + 1); must be < probeIntervalMs */
  probeTimeoutMs: number
  /** members asked to probe indirectly (k) */
  indirectChecks: number
  /** suspicion timeout floor = suspicionMult × max(1, log10 N) × probeIntervalMs; confirmations needed = mult − 2 */
  suspicionMult: number
  /** suspicion timeout ceiling = this × floor (Lifeguard); a lone accuser waits this long */
  suspicionMaxTimeoutMult: number
  /** gossip about a change is piggybacked on retransmitMult × ⌈log10(N + 1)⌉ messages */
  retransmitMult: number
  /** local health multiplier saturates at awarenessMax − 1 (timeouts at most ×awarenessMax) */
  awarenessMax: number
  /** pending gossip also goes out on its own every gossipIntervalMs to gossipNodes random members (memberlist's
   * gossip timer): a refutation must outrun the suspicion timers, and probes alone carry it one member a round */
  gossipIntervalMs: number
  gossipNodes: number
  /** members dead for less than this still receive gossip, so a wrongly dead member hears of it and refutes */
  gossipToTheDeadMs: number
  /** full-state exchange with one random live member; scaled up past 32 members as memberlist does */
  pushPullIntervalMs: number
  /** push-pull with one random dead (not left) member, so the two sides of a healed partition find each other */
  reconnectIntervalMs: number
  /** dead and left members stay listed this long, then are reaped (membership of record: 72 h) */
  reapAfterMs: number
  /** gossip items piggybacked on one message */
  maxPiggyback: number
  /** pending gossip items kept (one per member); past it the most-sent are dropped (push-pull repairs) */
  maxGossipQueue: number
  /** members kept; alive gossip about further ones is dropped */
  maxMembers: number
  /** flap damping (RFC 2439 style): every death adds `flapPenalty`, decaying with `flapHalfLifeMs`; a member that
   * comes back while its penalty is ≥ `flapSuppressAt` is damped (events held, reported dead) until it falls below
   * `flapReuseAt` */
  flapPenalty: number
  flapHalfLifeMs: number
  flapSuppressAt: number
  flapReuseAt: number
  /** how often reaping and un-damping are checked */
  housekeepingIntervalMs: number
}

export const DEFAULT_SWIM_CONFIG: Readonly<SwimConfig> = Object.freeze({
  lifeguard: true,
  // memberlist LAN: 1 s interval, 500 ms timeout, 3 indirect checks, SuspicionMult 4, max mult 6
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  // memberlist uses 4. A member misses an update with probability about e^-(transmissions per member); at 64
  // members 4 × 2 = 8 sends left one member in ~20 runs waiting for push-pull (28 s), 6 × 2 = 12 makes it ~e^-12
  retransmitMult: 6,
  // memberlist AwarenessMaxMultiplier 8: a starved member slows to one probe per 8 s rather than accuse everyone
  awarenessMax: 8,
  // memberlist LAN: GossipInterval 200 ms, GossipNodes 3, GossipToTheDeadTime 30 s
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  // memberlist LAN pushes/pulls every 30 s; at rest this is most of the bytes, so not more often
  pushPullIntervalMs: 30_000,
  // Serf retries failed members every 30 s; a healed partition re-merges within one or two of these
  reconnectIntervalMs: 10_000,
  // The issue: dead members stay listed (membership of record) for 72 h, configurable
  reapAfterMs: 72 * 3600_000,
  // ~16 items × ~80 bytes stays well under a 1,400-byte datagram-sized frame once encoded
  maxPiggyback: 16,
  // one pending item per member at most, so this only bites past 65,536 members
  maxGossipQueue: 65_536,
  // tens of thousands of hosts fit; alive statements about more (a bug or an attack) cannot exhaust memory
  maxMembers: 65_536,
  // Three deaths in quick succession suppress; a quiet ~2 half-lives (20 min) later the member is back
  flapPenalty: 1_000,
  flapHalfLifeMs: 10 * 60_000,
  flapSuppressAt: 2_500,
  flapReuseAt: 750,
  housekeepingIntervalMs: 1_000,
})

/** Bounds of the membership wire format (docs/protocol/cluster.md). */
export const CODEC_LIMITS = Object.freeze({
  // Probes, acks and gossip carry ≤ maxPiggyback (16) statements of ≤ ~2 KiB; 64 KiB is generous and still small.
  maxMessageBytes: 64 * 1024,
  // Push-pull carries up to two statements per member: 65,536 members × ~300 bytes ≈ 20 MiB would be absurd for one
  // frame, so full state is bounded at 8 MiB (~25,000 members with small metadata); bigger fleets need deltas.
  maxPushPullBytes: 8 * 1024 * 1024,
  maxStatementsPerMessage: 64,
  maxStatementsPerPushPull: 131_072,
  // base58 Ed25519 peer IDs are 52 characters; RSA-style ones are longer but still far below this
  maxPeerIdBytes: 128,
  // multiaddrs with a peer ID and a relay path stay well under 1 KiB
  maxAddressBytes: 1_024,
  maxTags: 64,
  maxTagKeyBytes: 64,
  maxTagValueBytes: 512,
  // weights travel as integer thousandths: 0.001 resolution, at most 1,000,000
  maxWeightMilli: 1_000_000_000,
  // Ed25519 signatures are exactly 64 bytes
  signatureBytes: 64,
})
