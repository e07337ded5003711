/**
 * The data the Raft core takes and gives: log entries, messages, durable state and the Ready batch.
 * Everything is plain data so a codec, a simulator and a transport can all carry it.
 */

/** A membership change, one server at a time. */
export interface ConfChange {
  /** add a non-voting learner; promote a learner to voter; remove a voter or learner */
  op: 'add-learner' | 'promote' | 'remove'
  member: string
  /** add-learner only: the leader promotes the learner to voter once it has caught up (addServer) */
  promote?: boolean
}

export interface Entry {
  term: number
  index: number
  /** application bytes for a normal entry; empty for the leader's no-op and for membership changes */
  data: Uint8Array
  /** set on membership-change entries; the core applies these itself when they commit */
  conf?: ConfChange
}

export type MessageType =
  | 'PreVote'
  | 'PreVoteResp'
  | 'Vote'
  | 'VoteResp'
  | 'App'
  | 'AppResp'
  | 'Heartbeat'
  | 'HeartbeatResp'
  | 'TimeoutNow'
  | 'ReadIndex'
  | 'ReadIndexResp'

/**
 * One message between members. A flat shape (etcd-style): each type uses the fields listed in docs/protocol/raft.md
 * and leaves the others at their zero value.
 */
export interface Message {
  type: MessageType
  from: string
  to: string
  term: number
  /** App: term of the entry before `entries`; (Pre)Vote: term of the candidate's last entry; AppResp reject: hint term */
  logTerm: number
  /** App: index of the entry before `entries`; (Pre)Vote: candidate's last index; AppResp: match or rejected index; ReadIndexResp: read index */
  index: number
  entries: Entry[]
  /** App/Heartbeat: the leader's commit index (for Heartbeat capped at what the follower is known to have) */
  commit: number
  reject: boolean
  /** AppResp reject: the follower's hint, the highest index that may match */
  rejectHint: number
  /** Heartbeat(Resp): read round; ReadIndex(Resp): the requester's read id */
  context: number
  /** Vote: the election was started by a leader transfer, so voters skip the lease check */
  transfer: boolean
}

/** What must be durable before a member acts: current term, vote in it, and the commit index it knows. */
export interface HardState {
  term: number
  vote: string
  commit: number
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/** A ReadIndex answer: once `applied ≥ index`, serve read `id` from the state machine; it is linearizable. */
export interface ReadState {
  id: number
  index: number
}

/** Voters and learners. */
export interface Membership {
  voters: string[]
  learners: string[]
}

/**
 * One batch of work for the host, in this order:
 * 1. persist `hardState` (if set) and `entries` (truncate the stored log from `entries[0].index`, then append) and
 *    make them durable (fsync);
 * 2. only then send `messages` (a vote or an append acknowledgement must never go out before what it promises is
 *    durable);
 * 3. apply `committed` to the state machine in order (they are always already durable on this member);
 * 4. answer `readStates` once applied ≥ their index;
 * 5. call `advance(ready)`.
 */
export interface Ready {
  hardState: HardState | undefined
  entries: Entry[]
  messages: Message[]
  committed: Entry[]
  readStates: ReadState[]
  /** role, leader and term when they changed since the last Ready */
  soft: { role: Role; leader: string; term: number } | undefined
}

/** What a member reloads after a restart: exactly what it persisted through Ready. */
export interface DurableState {
  hardState: HardState
  entries: Entry[]
}
