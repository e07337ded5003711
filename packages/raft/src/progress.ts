/**
 * What a leader knows about one follower's log, and how fast it may send to it (etcd's probe/replicate flow control).
 *
 * - probe: the leader does not know where the follower's log matches; one MsgApp at a time, then wait for the
 *   answer (or the next heartbeat) before sending another.
 * - replicate: the follower is known to match up to `match`; MsgApps stream optimistically (`next` advances as they
 *   are sent), bounded by a window of in-flight messages that acknowledgements free.
 */
import { MAX_INFLIGHT_APPENDS } from './limits.js'

export type ProgressState = 'probe' | 'replicate'

export class Progress {
  /** highest index known to be durable on the follower */
  match = 0
  /** next index to send */
  next: number
  state: ProgressState = 'probe'
  /** probe state: an append is out and unanswered, send nothing more until a response or heartbeat */
  probeSent = false
  /** replicate state: last index of each unacknowledged MsgApp, ascending */
  inflights: number[] = []
  /** heard from since the last CheckQuorum round */
  recentActive = false
  /** highest read round (heartbeat context) the follower acknowledged */
  readAck = 0
  constructor(next: number) {
    this.next = next
  }

  isPaused(): boolean {
    return this.state === 'probe' ? this.probeSent : this.inflights.length >= MAX_INFLIGHT_APPENDS
  }

  sentAppend(lastIndex: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1
        this.inflights.push(lastIndex)
      }
    } else {
      this.probeSent = true
    }
  }

  /** an acknowledgement up to `index`; returns whether `match` grew */
  update(index: number): boolean {
    this.probeSent = false
    while (this.inflights.length > 0 && this.inflights[0]! <= index) this.inflights.shift()
    if (index <= this.match) return false
    this.match = index
    if (this.next < index + 1) this.next = index + 1
    return true
  }

  /**
   * A rejection of the append after `rejected`, with `hint` the highest index that may match. Returns false when the
   * rejection is stale (an answer to an older message), true when `next` moved back.
   */
  decreaseTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.becomeProbe()
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1))
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1))
    this.probeSent = false
    return true
  }

  becomeProbe(): void {
    this.state = 'probe'
    this.next = this.match + 1
    this.probeSent = false
    this.inflights = []
  }

  becomeReplicate(): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.inflights = []
  }
}
