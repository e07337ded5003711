/**
 * Errors of @pnet/raft. Each has a literal `name` and an UPPER_SNAKE `code` to branch on; the data involved
 * (leader hint, member, limit) is in fields, not only in the message.
 *
 * @example
 * ```ts
 * try { node.propose(bytes) } catch (err) {
 *   if (err instanceof NotLeaderError) redirect(err.leader)   // '' when no leader is known
 * }
 * ```
 */

/** Proposals and (with no leader known) reads need the leader; `leader` is the hint, '' when unknown. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError'
  readonly code = 'ERR_NOT_LEADER'
  readonly leader: string
  constructor(leader: string) {
    super(leader === '' ? 'not the leader and no leader is known' : `not the leader; the leader is ${leader}`)
    this.leader = leader
  }
}

/** The leader refused a proposal: a leader transfer is under way, or the uncommitted backlog is full. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError'
  readonly code = 'ERR_PROPOSAL_DROPPED'
  readonly reason: 'transferring' | 'backlog-full' | 'too-large'
  constructor(reason: 'transferring' | 'backlog-full' | 'too-large') {
    super(`proposal dropped: ${reason}`)
    this.reason = reason
  }
}

/** A membership change was refused: one change at a time, and only after the leader committed in its term. */
export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError'
  readonly code = 'ERR_CONF_CHANGE'
  readonly member: string
  readonly reason: 'pending' | 'not-ready' | 'unknown-member' | 'already-member' | 'too-many-members' | 'last-voter'
  constructor(member: string, reason: ConfChangeError['reason']) {
    super(`membership change for ${member} refused: ${reason}`)
    this.member = member
    this.reason = reason
  }
}

/** A ReadIndex request was refused: too many reads are waiting for their heartbeat round. */
export class ReadDroppedError extends Error {
  override readonly name = 'ReadDroppedError'
  readonly code = 'ERR_READ_DROPPED'
  readonly reason: 'backlog-full'
  constructor(reason: 'backlog-full') {
    super(`read dropped: ${reason}`)
    this.reason = reason
  }
}

/** Leader transfer refused: not the leader, unknown or learner target, or a transfer already running. */
export class TransferError extends Error {
  override readonly name = 'TransferError'
  readonly code = 'ERR_TRANSFER'
  readonly target: string
  readonly reason: 'not-leader' | 'not-voter' | 'in-progress' | 'self'
  constructor(target: string, reason: TransferError['reason']) {
    super(`leader transfer to ${target} refused: ${reason}`)
    this.target = target
    this.reason = reason
  }
}

/** The host broke the Ready contract (ready() twice without advance(), advance() of a different Ready, bad config). */
export class RaftUsageError extends Error {
  override readonly name = 'RaftUsageError'
  readonly code = 'ERR_RAFT_USAGE'
  readonly detail: string
  constructor(detail: string) {
    super(`raft used incorrectly: ${detail}`)
    this.detail = detail
  }
}

/** Bytes that are not a valid message or entry. `reason` says what, `offset` where (bytes from the start). */
export class RaftDecodeError extends Error {
  override readonly name = 'RaftDecodeError'
  readonly code = 'ERR_RAFT_DECODE'
  readonly reason: string
  readonly offset: number
  constructor(reason: string, offset: number) {
    super(`invalid raft message at byte ${offset}: ${reason}`)
    this.reason = reason
    this.offset = offset
  }
}
