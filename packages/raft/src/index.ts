/**
 * @packageDocumentation
 *
 * `@pnet/raft`: Raft consensus for pnet. This release is the core: an I/O-free Raft state machine in the style of
 * etcd's raft package. The host feeds it messages (`step`), time (`tick`) and requests (`propose`, `readIndex`,
 * `addServer`, `removeServer`, `transferLeader`) and drains a {@link Ready} of work in a fixed order: persist, then
 * send, then apply. Nothing here touches a disk, a clock or a socket, so the same code runs in the deterministic
 * simulator (`@pnet/raft/testing`) and, next, over pnet channels.
 *
 * - Elections with randomized timeouts; PreVote and CheckQuorum on by default (a member back from a partition bumps
 *   no term); leader transfer.
 * - Replication: batched appends (all proposals between two Readys in one message per follower, one fsync), a
 *   pipeline per follower with probe/replicate flow control and an in-flight window, fast backtracking by
 *   conflict term.
 * - Reads: ReadIndex, batched per heartbeat round, no log write; followers forward to the leader.
 * - Membership: one server at a time; `addServer` adds a learner the leader promotes once it has caught up.
 * - Errors: NotLeaderError, ProposalDroppedError, ConfChangeError, ReadDroppedError, TransferError, RaftUsageError,
 *   RaftDecodeError (codes ERR_NOT_LEADER, ERR_PROPOSAL_DROPPED, ERR_CONF_CHANGE, ERR_READ_DROPPED, ERR_TRANSFER,
 *   ERR_RAFT_USAGE, ERR_RAFT_DECODE).
 * - Wire: `encodeMessage` / `decodeMessage` (strict), specified in docs/protocol/raft.md.
 * - Storage records: `encodeReadyRecords` (entries, then hard state, CRC-32C each) and `recoverLog` (stops at and
 *   reports a torn or corrupt tail); the file and its fsync belong to the disk storage, next.
 *
 * @example
 * ```ts
 * import { createRaftCore } from '@pnet/raft'
 *
 * // three members in one process, messages passed by hand (a real host persists each Ready before sending)
 * const ids = ['a', 'b', 'c']
 * const cores = new Map(ids.map(id => [id, createRaftCore({ id, voters: ids })]))
 * const applied: string[] = []
 * const pump = () => {
 *   for (let busy = true; busy; ) {
 *     busy = false
 *     const inbox = []
 *     for (const [id, core] of cores) {
 *       while (core.hasReady()) {
 *         busy = true
 *         const rd = core.ready()
 *         inbox.push(...rd.messages)
 *         for (const e of rd.committed) if (e.data.length > 0) applied.push(`${id}: ${new TextDecoder().decode(e.data)}`)
 *         core.advance(rd)
 *       }
 *     }
 *     for (const m of inbox) cores.get(m.to)!.step(m)
 *   }
 * }
 * cores.get('a')!.campaign()
 * pump()
 * cores.get('a')!.propose(new TextEncoder().encode('hello'))
 * pump()
 * console.log(applied.sort()) // [ 'a: hello', 'b: hello', 'c: hello' ]
 * ```
 */

export { decodeMessage, encodeMessage, MESSAGE_TYPES } from './codec.js'
export {
  ConfChangeError,
  NotLeaderError,
  ProposalDroppedError,
  RaftDecodeError,
  RaftUsageError,
  ReadDroppedError,
  TransferError,
} from './errors.js'
export { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS, DEFAULT_TICK_MS } from './limits.js'
export { createRaftCore, type RaftCore, type RaftCoreInit, type RaftStatus } from './raft.js'
export type {
  ConfChange,
  DurableState,
  Entry,
  HardState,
  Membership,
  Message,
  MessageType,
  ReadState,
  Ready,
  Role,
} from './types.js'
export { crc32c, encodeReadyRecords, type Recovered, recoverLog } from './wal.js'
