/**
 * Every bound and timer of @pnet/raft in one place, with its default and why. Timers count ticks: the host calls
 * `tick()` every {@link DEFAULT_TICK_MS} milliseconds, so the core itself never reads a clock.
 */

/** Milliseconds per tick the host should use. 50 ms heartbeats are what the failover goal is set against. */
export const DEFAULT_TICK_MS = 50

/** A leader sends heartbeats every this many ticks (50 ms): followers learn the commit index and keep the lease. */
export const DEFAULT_HEARTBEAT_TICKS = 1

/**
 * A follower that hears nothing from a leader for a random number of ticks in [electionTicks, 2 × electionTicks)
 * starts a (pre-)election. 6 ticks = 300 ms, so the timeout is 300–600 ms: the failover setting, and far
 * enough above the heartbeat that one or two lost heartbeats do not cause an election.
 */
export const DEFAULT_ELECTION_TICKS = 6

/**
 * Entries per MsgApp. Batching amortizes per-message overhead; the bound keeps one message from starving the
 * heartbeats behind it on the same stream.
 */
export const MAX_ENTRIES_PER_APPEND = 256

/** Payload bytes per MsgApp (at least one entry is always sent, so a single large entry still makes progress). */
export const MAX_APPEND_BYTES = 1024 * 1024

/**
 * MsgApps in flight to one follower in replicate state (the pipelining window). With 256 entries each, 64 messages
 * cover a large burst, while a slow follower cannot make the leader queue unbounded data for it.
 */
export const MAX_INFLIGHT_APPENDS = 64

/** Proposals (not yet committed) a leader accepts before refusing with ProposalDroppedError: memory is bounded. */
export const MAX_UNCOMMITTED_ENTRIES = 10_000

/** Bytes of one entry's data a leader accepts in a proposal; larger values belong in a side channel. */
export const MAX_ENTRY_BYTES = 1024 * 1024

/** ReadIndex requests waiting for one heartbeat round; beyond it reads are refused (ReadDroppedError). */
export const MAX_PENDING_READS = 10_000

/**
 * Leader transfer: if the target has not caught up and started an election within this many election timeouts,
 * the transfer is abandoned and the leader takes proposals again.
 */
export const TRANSFER_TIMEOUT_ELECTIONS = 1

/** Voters and learners in one group. Raft groups are small; the bound protects the quorum arithmetic and messages. */
export const MAX_MEMBERS = 64

/** A member ID is a string (a libp2p peer ID in practice): bounded so messages and logs stay small. */
export const MAX_MEMBER_ID_BYTES = 128

/**
 * One encoded message, all fields included. A MsgApp carries at most MAX_APPEND_BYTES of entry data (or one larger
 * entry up to MAX_ENTRY_BYTES) plus per-entry headers; 2 MiB covers both with room, and bounds what a decoder
 * buffers for one peer.
 */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024

/** Wire format version written in every message's first byte (docs/protocol/raft.md). */
export const WIRE_VERSION = 1

/** A varint longer than this is malformed: 8 bytes of 7 bits hold any safe integer (2^53 − 1). */
export const MAX_VARINT_BYTES = 8

/** One storage record (an entry or the hard state) with its framing: the largest entry plus headers, with room. */
export const MAX_RECORD_BYTES = MAX_ENTRY_BYTES + 64 * 1024

// ---- testing tools (@pnet/raft/testing)

/** Checker search steps per partition before it answers 'unknown': enough for a few hundred concurrent ops on one key. */
export const DEFAULT_MAX_CHECK_STEPS = 5_000_000

/** After the simulator's faults stop, clients keep going this long: enough for an election and a few operations. */
export const FAULT_FREE_TAIL_MS = 1500

/** Invariant violations kept per simulated run: the first few say what went wrong; thousands would only slow it. */
export const MAX_VIOLATIONS = 20
