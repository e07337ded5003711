/**
 * The Raft state machine with no I/O: the host feeds it messages (`step`), time (`tick`) and requests (`propose`,
 * `readIndex`, membership and transfer calls), and collects a {@link Ready} of work to do. Nothing here reads a
 * clock, touches a disk or opens a socket, so a simulator drives it deterministically.
 */
import {
  ConfChangeError,
  NotLeaderError,
  ProposalDroppedError,
  RaftUsageError,
  ReadDroppedError,
  TransferError,
} from './errors.js'
import {
  DEFAULT_ELECTION_TICKS,
  DEFAULT_HEARTBEAT_TICKS,
  MAX_APPEND_BYTES,
  MAX_ENTRIES_PER_APPEND,
  MAX_ENTRY_BYTES,
  MAX_INFLIGHT_APPENDS,
  MAX_MEMBERS,
  MAX_PENDING_READS,
  MAX_UNCOMMITTED_ENTRIES,
  TRANSFER_TIMEOUT_ELECTIONS,
} from './limits.js'
import { Progress } from './progress.js'
import type {
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

export interface RaftCoreInit {
  /** this member's ID */
  id: string
  /** the group's bootstrap voters, identical on every member (later changes come from the log) */
  voters: string[]
  /** bootstrap learners */
  learners?: string[]
  /** what this member persisted before it stopped; omit on first start */
  durable?: DurableState
  /** election timeout in ticks; the randomized timeout is in [electionTicks, 2 × electionTicks) */
  electionTicks?: number
  heartbeatTicks?: number
  /** on by default: a member asks whether it could win before bumping the term */
  preVote?: boolean
  /** on by default: a leader steps down without a quorum; members ignore votes while they hear a leader */
  checkQuorum?: boolean
  /** a uniform random number in [0, 1); seeded in the simulator */
  random?: () => number
  /**
   * Deliberately broken builds for the checker's self-test. Never set these in production.
   * - `staleLeaderReads`: a leader answers ReadIndex at once from its own commit index, without a heartbeat round
   * - `commitWithoutQuorum`: a leader commits whatever it has persisted, without waiting for followers
   */
  unsafe?: { staleLeaderReads?: boolean; commitWithoutQuorum?: boolean }
}

export interface RaftStatus {
  id: string
  role: Role
  term: number
  vote: string
  leader: string
  commit: number
  applied: number
  lastIndex: number
  membership: Membership
  /** leader only: what it knows of each member's log */
  progress: Record<string, { match: number; next: number; state: 'probe' | 'replicate' }>
}

/** The I/O-free Raft core. Create with {@link createRaftCore}. */
export interface RaftCore {
  readonly id: string
  /** advance logical time by one tick */
  tick(): void
  /** hand the core a message received from another member */
  step(message: Message): void
  /** leader only: append `data` to the log; returns its index. Throws NotLeaderError / ProposalDroppedError. */
  propose(data: Uint8Array): number
  /** leader only: add `member` as a learner, promoted to voter by the leader once it has caught up */
  addServer(member: string): number
  /** leader only: add `member` as a learner that stays a learner */
  addLearner(member: string): number
  /** leader only: remove a voter or learner */
  removeServer(member: string): number
  /** leader only: hand leadership to `target` once its log is current */
  transferLeader(target: string): void
  /** request a linearizable read; the answer comes as a ReadState with the returned id */
  readIndex(): number
  /** start an election now (subject to PreVote) */
  campaign(): void
  hasReady(): boolean
  ready(): Ready
  advance(ready: Ready): void
  status(): RaftStatus
}

interface PendingRead {
  id: number
  from: string
  index: number
  /** read round that confirms it; 0 until a round starts */
  round: number
}

const EMPTY = new Uint8Array(0)

/**
 * Create the Raft core for one member.
 *
 * @example
 * ```ts
 * const core = createRaftCore({ id: 'a', voters: ['a', 'b', 'c'] })
 * setInterval(() => core.tick(), DEFAULT_TICK_MS)
 * // on each message: core.step(msg); then drain:
 * while (core.hasReady()) {
 *   const rd = core.ready()
 *   storage.save(rd.hardState, rd.entries)   // durable first
 *   for (const m of rd.messages) send(m)     // then send
 *   for (const e of rd.committed) apply(e)   // then apply
 *   core.advance(rd)
 * }
 * ```
 */
export function createRaftCore(init: RaftCoreInit): RaftCore {
  return new Raft(init)
}

class Raft implements RaftCore {
  readonly id: string
  private readonly electionTicks: number
  private readonly heartbeatTicks: number
  private readonly preVote: boolean
  private readonly checkQuorum: boolean
  private readonly random: () => number
  private readonly unsafe: { staleLeaderReads?: boolean; commitWithoutQuorum?: boolean }

  private term = 0
  private vote = ''
  private leader = ''
  private role: Role = 'follower'
  /** log[i - 1] is the entry at index i (no compaction yet) */
  private log: Entry[] = []
  private commit = 0
  /** entries handed out for applying */
  private applied = 0
  /** highest index known durable here */
  private stable = 0
  private voters = new Set<string>()
  private learners = new Set<string>()
  /** learners the log asked to promote once caught up */
  private promoteWhenCaughtUp = new Set<string>()
  private confApplied = 0
  private pendingConfIndex = 0

  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedTimeout = 0
  private votes = new Map<string, boolean>()
  private progress = new Map<string, Progress>()
  private transferee = ''
  private transferElapsed = 0

  private readRound = 0
  private confirmedRound = 0
  private pendingReads: PendingRead[] = []
  private readsBeforeCommit: { id: number; from: string }[] = []
  private readRoundDue = false
  private nextReadId = 1

  private msgs: Message[] = []
  private readStates: ReadState[] = []
  private appendsDue = false
  private prevHard: HardState
  private prevSoft = { role: 'follower' as Role, leader: '', term: 0 }
  private inFlight: Ready | undefined

  constructor(init: RaftCoreInit) {
    if (init.voters.length === 0 || init.voters.length + (init.learners?.length ?? 0) > MAX_MEMBERS) {
      throw new RaftUsageError(`a group has 1..${MAX_MEMBERS} members`)
    }
    this.id = init.id
    this.electionTicks = init.electionTicks ?? DEFAULT_ELECTION_TICKS
    this.heartbeatTicks = init.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS
    if (this.heartbeatTicks >= this.electionTicks) throw new RaftUsageError('heartbeatTicks must be < electionTicks')
    this.preVote = init.preVote ?? true
    this.checkQuorum = init.checkQuorum ?? true
    this.random = init.random ?? Math.random
    this.unsafe = init.unsafe ?? {}
    for (const v of init.voters) this.voters.add(v)
    for (const l of init.learners ?? []) this.learners.add(l)
    if (init.durable !== undefined) {
      const { hardState, entries } = init.durable
      this.term = hardState.term
      this.vote = hardState.vote
      this.log = entries.slice()
      for (let i = 0; i < this.log.length; i++) {
        if (this.log[i]!.index !== i + 1)
          throw new RaftUsageError(`durable log has index ${this.log[i]!.index} at ${i + 1}`)
      }
      this.stable = this.log.length
      this.commit = Math.min(hardState.commit, this.log.length)
    }
    this.prevHard = { term: this.term, vote: this.vote, commit: this.commit }
    this.prevSoft = { role: 'follower', leader: '', term: this.term }
    this.applyConfTo(this.commit)
    this.resetTimers()
  }

  // ---- log helpers

  private lastIndex(): number {
    return this.log.length
  }

  private termAt(index: number): number {
    if (index <= 0 || index > this.log.length) return 0
    return this.log[index - 1]!.term
  }

  private isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.termAt(this.lastIndex())
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex())
  }

  /** the largest index ≤ `index` whose term is ≤ `term` (fast backtracking) */
  private findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex())
    while (i > 0 && this.termAt(i) > term) i--
    return i
  }

  private truncateFrom(index: number): void {
    if (index <= this.commit) throw new RaftUsageError(`truncating committed entry ${index} (commit ${this.commit})`)
    this.log.length = index - 1
    if (this.stable >= index) this.stable = index - 1
  }

  // ---- membership

  private quorum(): number {
    return Math.floor(this.voters.size / 2) + 1
  }

  private members(): string[] {
    return [...this.voters, ...this.learners]
  }

  private applyConfTo(index: number): void {
    const upTo = Math.min(index, this.stable)
    while (this.confApplied < upTo) {
      this.confApplied++
      const cc = this.log[this.confApplied - 1]!.conf
      if (cc !== undefined) this.applyConf(cc)
    }
  }

  private applyConf(cc: ConfChange): void {
    const m = cc.member
    if (cc.op === 'add-learner') {
      if (this.voters.has(m)) return
      this.learners.add(m)
      if (cc.promote === true) this.promoteWhenCaughtUp.add(m)
      if (this.role === 'leader' && !this.progress.has(m)) this.progress.set(m, new Progress(this.lastIndex() + 1))
    } else if (cc.op === 'promote') {
      if (!this.learners.has(m)) return
      this.learners.delete(m)
      this.promoteWhenCaughtUp.delete(m)
      this.voters.add(m)
    } else {
      this.voters.delete(m)
      this.learners.delete(m)
      this.promoteWhenCaughtUp.delete(m)
      this.progress.delete(m)
      if (this.transferee === m) this.transferee = ''
      if (m === this.id && this.role === 'leader') {
        this.becomeFollower(this.term, '')
        return
      }
    }
    if (this.role === 'leader') {
      if (this.maybeCommit()) this.appendsDue = true
    }
  }

  // ---- roles

  private resetTimers(): void {
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizedTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks)
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = ''
    }
    this.leader = ''
    this.resetTimers()
    this.votes.clear()
    this.progress.clear()
    this.transferee = ''
    this.pendingReads = []
    this.readsBeforeCommit = []
    this.readRoundDue = false
    this.readRound = 0
    this.confirmedRound = 0
  }

  private becomeFollower(term: number, leader: string): void {
    this.reset(term)
    this.role = 'follower'
    this.leader = leader
  }

  private becomeLeader(): void {
    this.reset(this.term)
    this.role = 'leader'
    this.leader = this.id
    for (const m of this.members()) {
      const pr = new Progress(this.lastIndex() + 1)
      if (m === this.id) {
        pr.match = this.stable
        pr.becomeReplicate()
      }
      pr.recentActive = true
      this.progress.set(m, pr)
    }
    this.log.push({ term: this.term, index: this.lastIndex() + 1, data: EMPTY })
    // no membership change until everything before this term's no-op is applied
    this.pendingConfIndex = this.lastIndex()
    this.appendsDue = true
  }

  private hasUnappliedConf(): boolean {
    for (let i = this.confApplied + 1; i <= this.commit; i++) if (this.log[i - 1]!.conf !== undefined) return true
    return false
  }

  private startElection(kind: 'pre' | 'real' | 'transfer'): void {
    if (!this.voters.has(this.id)) return
    let type: MessageType
    let voteTerm: number
    if (kind === 'pre') {
      this.role = 'pre-candidate'
      this.leader = ''
      this.votes.clear()
      type = 'PreVote'
      voteTerm = this.term + 1
    } else {
      this.reset(this.term + 1)
      this.role = 'candidate'
      this.vote = this.id
      type = 'Vote'
      voteTerm = this.term
    }
    this.votes.set(this.id, true)
    if (this.tally() === 'won') {
      this.wonElection(kind)
      return
    }
    for (const v of this.voters) {
      if (v === this.id) continue
      this.send(type, v, {
        term: voteTerm,
        index: this.lastIndex(),
        logTerm: this.termAt(this.lastIndex()),
        transfer: kind === 'transfer',
      })
    }
  }

  private wonElection(kind: 'pre' | 'real' | 'transfer'): void {
    if (kind === 'pre') this.startElection('real')
    else this.becomeLeader()
  }

  private tally(): 'won' | 'lost' | 'pending' {
    let granted = 0
    let rejected = 0
    for (const v of this.voters) {
      const r = this.votes.get(v)
      if (r === true) granted++
      else if (r === false) rejected++
    }
    const q = this.quorum()
    if (granted >= q) return 'won'
    if (rejected > this.voters.size - q) return 'lost'
    return 'pending'
  }

  // ---- messages

  private send(type: MessageType, to: string, fields: Partial<Message> = {}): void {
    this.msgs.push({
      type,
      from: this.id,
      to,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: 0,
      transfer: false,
      ...fields,
    })
  }

  /** send appends to `to` while its flow control allows; `force` sends one even if empty (commit, probe) */
  private sendAppends(to: string, force: boolean): void {
    const pr = this.progress.get(to)
    if (pr === undefined || to === this.id) return
    while (!pr.isPaused()) {
      const last = this.lastIndex()
      if (pr.next > last && !force) return
      force = false
      const prev = pr.next - 1
      const entries: Entry[] = []
      let bytes = 0
      for (let i = pr.next; i <= last && entries.length < MAX_ENTRIES_PER_APPEND; i++) {
        const e = this.log[i - 1]!
        if (entries.length > 0 && bytes + e.data.length > MAX_APPEND_BYTES) break
        bytes += e.data.length
        entries.push(e)
      }
      this.send('App', to, { index: prev, logTerm: this.termAt(prev), entries, commit: this.commit })
      pr.sentAppend(prev + entries.length, entries.length)
      if (pr.state === 'probe') return
    }
  }

  private flush(): void {
    this.flushReadRound()
    this.flushAppends()
  }

  private flushAppends(): void {
    if (!this.appendsDue) return
    this.appendsDue = false
    if (this.role !== 'leader') return
    for (const m of this.progress.keys()) this.sendAppends(m, true)
  }

  private broadcastHeartbeat(): void {
    for (const [m, pr] of this.progress) {
      if (m === this.id) continue
      this.send('Heartbeat', m, { commit: Math.min(pr.match, this.commit), context: this.readRound })
    }
  }

  private maybeCommit(): boolean {
    let candidate: number
    if (this.unsafe.commitWithoutQuorum === true) {
      candidate = this.stable
    } else {
      const matches: number[] = []
      for (const v of this.voters) matches.push(this.progress.get(v)?.match ?? 0)
      matches.sort((a, b) => b - a)
      candidate = matches[this.quorum() - 1] ?? 0
    }
    if (candidate > this.commit && this.termAt(candidate) === this.term) {
      this.commit = candidate
      this.applyConfTo(this.commit)
      const held = this.readsBeforeCommit
      this.readsBeforeCommit = []
      for (const r of held) this.handleRead(r.from, r.id)
      return true
    }
    return false
  }

  // ---- public API

  tick(): void {
    this.assertNoReady()
    if (this.role === 'leader') {
      this.heartbeatElapsed++
      this.electionElapsed++
      if (this.transferee !== '') {
        this.transferElapsed++
        if (this.transferElapsed >= this.electionTicks * TRANSFER_TIMEOUT_ELECTIONS) this.transferee = ''
      }
      if (this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0
        if (this.checkQuorum && !this.quorumActive()) {
          this.becomeFollower(this.term, '')
          return
        }
      }
      if (this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0
        this.startReadRoundIfWaiting()
        this.broadcastHeartbeat()
        for (const [m, pr] of this.progress) if (pr.state === 'probe') this.unpauseProbe(m, pr)
      }
      return
    }
    this.electionElapsed++
    if (this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0
      this.campaign()
    }
  }

  private unpauseProbe(m: string, pr: Progress): void {
    pr.probeSent = false
    if (pr.match < this.lastIndex()) this.sendAppends(m, false)
  }

  private quorumActive(): boolean {
    let active = 0
    for (const v of this.voters) {
      const pr = this.progress.get(v)
      if (v === this.id || pr?.recentActive === true) active++
    }
    for (const [m, pr] of this.progress) if (m !== this.id) pr.recentActive = false
    return active >= this.quorum()
  }

  campaign(): void {
    this.assertNoReady()
    if (this.role === 'leader' || this.hasUnappliedConf()) return
    this.startElection(this.preVote ? 'pre' : 'real')
  }

  step(m: Message): void {
    this.assertNoReady()
    if (m.term > this.term) {
      if (m.type === 'PreVote' || m.type === 'Vote') {
        const inLease = this.checkQuorum && this.leader !== '' && this.electionElapsed < this.electionTicks
        if (inLease && !m.transfer) return
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResp' && !m.reject)) {
        // a pre-vote never changes our term
      } else {
        const leader = m.type === 'App' || m.type === 'Heartbeat' ? m.from : ''
        this.becomeFollower(m.term, leader)
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'App' || m.type === 'Heartbeat')) {
        // a deposed leader: our higher term makes it step down
        this.send('AppResp', m.from)
      } else if (m.type === 'PreVote') {
        this.send('PreVoteResp', m.from, { reject: true })
      }
      return
    }

    if (m.type === 'PreVote' || m.type === 'Vote') {
      this.handleVote(m)
      return
    }

    switch (this.role) {
      case 'leader':
        this.stepLeader(m)
        return
      case 'pre-candidate':
      case 'candidate':
        this.stepCandidate(m)
        return
      default:
        this.stepFollower(m)
        return
    }
  }

  private handleVote(m: Message): void {
    const resp: MessageType = m.type === 'PreVote' ? 'PreVoteResp' : 'VoteResp'
    const canVote =
      this.vote === m.from || (this.vote === '' && this.leader === '') || (m.type === 'PreVote' && m.term > this.term)
    if (canVote && this.isUpToDate(m.index, m.logTerm)) {
      this.send(resp, m.from, { term: m.term })
      if (m.type === 'Vote') {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.send(resp, m.from, { reject: true })
    }
  }

  private stepCandidate(m: Message): void {
    if (m.type === 'App' || m.type === 'Heartbeat') {
      this.becomeFollower(m.term, m.from)
      this.stepFollower(m)
      return
    }
    const mine: MessageType = this.role === 'pre-candidate' ? 'PreVoteResp' : 'VoteResp'
    if (m.type !== mine) return
    this.votes.set(m.from, !m.reject)
    const result = this.tally()
    if (result === 'won') this.wonElection(this.role === 'pre-candidate' ? 'pre' : 'real')
    else if (result === 'lost') this.becomeFollower(this.term, '')
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'App':
        this.electionElapsed = 0
        this.leader = m.from
        this.handleAppend(m)
        return
      case 'Heartbeat':
        this.electionElapsed = 0
        this.leader = m.from
        if (m.commit > this.commit) {
          this.commit = Math.min(m.commit, this.lastIndex())
          this.applyConfTo(this.commit)
        }
        this.send('HeartbeatResp', m.from, { context: m.context })
        return
      case 'TimeoutNow':
        this.startElection('transfer')
        return
      case 'ReadIndexResp':
        this.readStates.push({ id: m.context, index: m.index })
        return
      default:
        return
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.commit) {
      this.send('AppResp', m.from, { index: this.commit })
      return
    }
    if (m.index <= this.lastIndex() && this.termAt(m.index) === m.logTerm) {
      for (const e of m.entries) {
        if (e.index <= this.lastIndex()) {
          if (this.termAt(e.index) === e.term) continue
          this.truncateFrom(e.index)
        }
        this.log.push(e)
      }
      const lastNew = m.index + m.entries.length
      const commit = Math.min(m.commit, lastNew)
      if (commit > this.commit) {
        this.commit = commit
        this.applyConfTo(this.commit)
      }
      this.send('AppResp', m.from, { index: lastNew })
      return
    }
    const hint = this.findConflictByTerm(Math.min(m.index, this.lastIndex()), m.logTerm)
    this.send('AppResp', m.from, { index: m.index, reject: true, rejectHint: hint, logTerm: this.termAt(hint) })
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from)
    if (m.type === 'ReadIndex') {
      this.handleRead(m.from, m.context)
      return
    }
    if (pr === undefined) return
    pr.recentActive = true
    if (m.type === 'AppResp') {
      if (m.reject) {
        const hint = m.logTerm > 0 ? this.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint
        if (pr.decreaseTo(m.index, hint)) this.sendAppends(m.from, true)
        return
      }
      const wasProbe = pr.state === 'probe'
      if (pr.update(m.index)) {
        if (wasProbe) pr.becomeReplicate()
        if (this.maybeCommit()) this.appendsDue = true
        this.maybePromote(m.from, pr)
      }
      this.sendAppends(m.from, false)
      if (m.from === this.transferee && pr.match === this.lastIndex()) this.send('TimeoutNow', m.from)
    } else if (m.type === 'HeartbeatResp') {
      pr.probeSent = false
      this.maybePromote(m.from, pr)
      // appends may have been lost: free a slot and send from `next` even if empty; a gap draws a rejection (→ probe)
      if (pr.state === 'replicate' && pr.inflights.length >= MAX_INFLIGHT_APPENDS) pr.inflights.shift()
      if (pr.match < this.lastIndex()) this.sendAppends(m.from, true)
      if (m.context > pr.readAck) {
        pr.readAck = m.context
        this.confirmReads()
      }
    }
  }

  private maybePromote(member: string, pr: Progress): void {
    if (!this.promoteWhenCaughtUp.has(member) || pr.match < this.commit) return
    if (this.confApplied < this.pendingConfIndex || this.termAt(this.commit) !== this.term) return
    if (this.transferee !== '') return
    this.appendConf({ op: 'promote', member })
  }

  // ---- reads

  private handleRead(from: string, id: number): void {
    const reply = (index: number) => {
      if (from === this.id) this.readStates.push({ id, index })
      else this.send('ReadIndexResp', from, { context: id, index })
    }
    if (this.unsafe.staleLeaderReads === true) {
      reply(this.commit)
      return
    }
    if (this.pendingReads.length + this.readsBeforeCommit.length >= MAX_PENDING_READS) {
      if (from === this.id) throw new ReadDroppedError('backlog-full')
      return
    }
    if (this.termAt(this.commit) !== this.term) {
      // a new leader does not know the commit index until its own no-op commits: hold the read until then
      this.readsBeforeCommit.push({ id, from })
      return
    }
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      reply(this.commit)
      return
    }
    this.pendingReads.push({ id, from, index: this.commit, round: 0 })
    this.readRoundDue = true
  }

  /**
   * Batching: reads that arrive between two Readys share one heartbeat round, started when the Ready is built; and
   * one round is in flight at a time, so reads that arrive meanwhile share the next (a heartbeat tick also starts one).
   */
  private flushReadRound(): void {
    if (!this.readRoundDue || this.role !== 'leader') return
    if (this.confirmedRound !== this.readRound) return
    this.readRoundDue = false
    this.startReadRoundIfWaiting()
    this.broadcastHeartbeat()
  }

  private startReadRoundIfWaiting(): void {
    if (!this.pendingReads.some(r => r.round === 0)) return
    this.readRound++
    for (const r of this.pendingReads) if (r.round === 0) r.round = this.readRound
  }

  private confirmReads(): void {
    const acks: number[] = []
    for (const v of this.voters) acks.push(v === this.id ? this.readRound : (this.progress.get(v)?.readAck ?? 0))
    acks.sort((a, b) => b - a)
    const confirmed = acks[this.quorum() - 1] ?? 0
    if (confirmed <= this.confirmedRound) return
    this.confirmedRound = confirmed
    const keep: PendingRead[] = []
    for (const r of this.pendingReads) {
      if (r.round === 0 || r.round > confirmed) {
        keep.push(r)
        continue
      }
      if (r.from === this.id) this.readStates.push({ id: r.id, index: r.index })
      else this.send('ReadIndexResp', r.from, { context: r.id, index: r.index })
    }
    this.pendingReads = keep
    if (keep.length > 0) this.readRoundDue = true
  }

  readIndex(): number {
    this.assertNoReady()
    const id = this.nextReadId++
    if (this.role === 'leader') {
      this.handleRead(this.id, id)
      return id
    }
    if (this.leader === '') throw new NotLeaderError('')
    this.send('ReadIndex', this.leader, { context: id })
    return id
  }

  // ---- proposals and membership

  private requireLeader(): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader)
  }

  propose(data: Uint8Array): number {
    this.assertNoReady()
    this.requireLeader()
    if (this.transferee !== '') throw new ProposalDroppedError('transferring')
    if (data.length > MAX_ENTRY_BYTES) throw new ProposalDroppedError('too-large')
    if (this.lastIndex() - this.commit >= MAX_UNCOMMITTED_ENTRIES) throw new ProposalDroppedError('backlog-full')
    this.log.push({ term: this.term, index: this.lastIndex() + 1, data })
    this.appendsDue = true
    return this.lastIndex()
  }

  private appendConf(cc: ConfChange): number {
    this.log.push({ term: this.term, index: this.lastIndex() + 1, data: EMPTY, conf: cc })
    this.pendingConfIndex = this.lastIndex()
    this.appendsDue = true
    return this.lastIndex()
  }

  private proposeConf(cc: ConfChange): number {
    this.assertNoReady()
    this.requireLeader()
    if (this.transferee !== '') throw new ProposalDroppedError('transferring')
    if (this.confApplied < this.pendingConfIndex) throw new ConfChangeError(cc.member, 'pending')
    // a leader commits an entry of its own term before changing membership (the single-server change fix)
    if (this.termAt(this.commit) !== this.term) throw new ConfChangeError(cc.member, 'not-ready')
    const isVoter = this.voters.has(cc.member)
    const isLearner = this.learners.has(cc.member)
    if (cc.op === 'add-learner') {
      if (isVoter || isLearner) throw new ConfChangeError(cc.member, 'already-member')
      if (this.voters.size + this.learners.size >= MAX_MEMBERS) throw new ConfChangeError(cc.member, 'too-many-members')
    } else if (cc.op === 'remove') {
      if (!isVoter && !isLearner) throw new ConfChangeError(cc.member, 'unknown-member')
      if (isVoter && this.voters.size === 1) throw new ConfChangeError(cc.member, 'last-voter')
    } else if (!isLearner) {
      throw new ConfChangeError(cc.member, 'unknown-member')
    }
    return this.appendConf(cc)
  }

  addServer(member: string): number {
    return this.proposeConf({ op: 'add-learner', member, promote: true })
  }

  addLearner(member: string): number {
    return this.proposeConf({ op: 'add-learner', member })
  }

  removeServer(member: string): number {
    return this.proposeConf({ op: 'remove', member })
  }

  transferLeader(target: string): void {
    this.assertNoReady()
    if (this.role !== 'leader') throw new TransferError(target, 'not-leader')
    if (target === this.id) throw new TransferError(target, 'self')
    if (!this.voters.has(target)) throw new TransferError(target, 'not-voter')
    if (this.transferee === target) return
    this.transferee = target
    this.transferElapsed = 0
    const pr = this.progress.get(target)!
    if (pr.match === this.lastIndex()) this.send('TimeoutNow', target)
    else this.sendAppends(target, false)
  }

  // ---- Ready

  private assertNoReady(): void {
    if (this.inFlight !== undefined) throw new RaftUsageError('call advance(ready) before feeding the core again')
  }

  private hardChanged(): boolean {
    const h = this.prevHard
    return h.term !== this.term || h.vote !== this.vote || h.commit !== this.commit
  }

  private softChanged(): boolean {
    const s = this.prevSoft
    return s.role !== this.role || s.leader !== this.leader || s.term !== this.term
  }

  hasReady(): boolean {
    if (this.inFlight !== undefined) return false
    this.flush()
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.lastIndex() > this.stable ||
      Math.min(this.commit, this.stable) > this.applied ||
      this.hardChanged() ||
      this.softChanged()
    )
  }

  ready(): Ready {
    this.assertNoReady()
    this.flush()
    const rd: Ready = {
      hardState: this.hardChanged() ? { term: this.term, vote: this.vote, commit: this.commit } : undefined,
      entries: this.log.slice(this.stable),
      messages: this.msgs,
      committed: this.log.slice(this.applied, Math.max(this.applied, Math.min(this.commit, this.stable))),
      readStates: this.readStates,
      soft: this.softChanged() ? { role: this.role, leader: this.leader, term: this.term } : undefined,
    }
    this.msgs = []
    this.readStates = []
    this.inFlight = rd
    return rd
  }

  advance(rd: Ready): void {
    if (rd !== this.inFlight) throw new RaftUsageError('advance() takes the Ready last returned by ready()')
    this.inFlight = undefined
    if (rd.hardState !== undefined) this.prevHard = rd.hardState
    if (rd.soft !== undefined) this.prevSoft = rd.soft
    const lastEntry = rd.entries[rd.entries.length - 1]
    if (lastEntry !== undefined) this.stable = lastEntry.index
    const lastApplied = rd.committed[rd.committed.length - 1]
    if (lastApplied !== undefined) this.applied = lastApplied.index
    this.applyConfTo(this.commit)
    if (this.role === 'leader') {
      const self = this.progress.get(this.id)
      if (self?.update(this.stable) && this.maybeCommit()) this.appendsDue = true
      if (this.unsafe.commitWithoutQuorum === true && this.maybeCommit()) this.appendsDue = true
    }
  }

  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {}
    if (this.role === 'leader') {
      for (const [m, pr] of this.progress) progress[m] = { match: pr.match, next: pr.next, state: pr.state }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.commit,
      applied: this.applied,
      lastIndex: this.lastIndex(),
      membership: { voters: [...this.voters], learners: [...this.learners] },
      progress,
    }
  }
}
