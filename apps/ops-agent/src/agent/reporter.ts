/**
 * Batches an agent's reports for one job into signed replies of the job's broadcast: output that comes in bursts
 * leaves in a few batches (one signature each) instead of one per chunk, and a quick command answers with one.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from '@pnet/network'
import { REPORT_BATCH_BYTES, REPORT_FLUSH_MS } from '../limits.js'
import { encodeReportBatch, isFinal, type Report } from '../protocol/reports.js'

/**
 * @example
 * ```ts
 * const reports = new Reporter(key, job.id, bytes => msg.reply(bytes), log)
 * reports.add({ type: 'output', stream: 'stdout', data })
 * await reports.add({ type: 'result', status: 'ok', exitCode: 0, signal: null, durationMs: 12 })  // flushed at once
 * ```
 */
export class Reporter {
  readonly #key: PrivateKey
  readonly #job: string
  readonly #send: (payload: Uint8Array) => Promise<void>
  readonly #log: Logger
  #queued: Report[] = []
  #queuedBytes = 0
  #seq = 0
  #timer: NodeJS.Timeout | undefined
  #chain: Promise<void> = Promise.resolve()
  #ended = false

  constructor(key: PrivateKey, job: string, send: (payload: Uint8Array) => Promise<void>, log: Logger) {
    this.#key = key
    this.#job = job
    this.#send = send
    this.#log = log
  }

  /**
   * Queues a report; a final one (result, refused, skipped) flushes everything at once and ends the reporter.
   * Resolves when what this call flushed has been handed to the link (backpressure), or at once when only queued.
   */
  add(report: Report): Promise<void> {
    if (this.#ended) return Promise.resolve()
    const size = estimate(report)
    if (this.#queuedBytes + size > REPORT_BATCH_BYTES && this.#queued.length > 0) this.#flush()
    this.#queued.push(report)
    this.#queuedBytes += size
    if (isFinal(report)) {
      this.#ended = true
      return this.#flush()
    }
    if (this.#queuedBytes >= REPORT_BATCH_BYTES) return this.#flush()
    this.#timer ??= setTimeout(() => void this.#flush(), REPORT_FLUSH_MS)
    return Promise.resolve()
  }

  /** Sends what is queued now. */
  #flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#queued.length === 0) return this.#chain
    const batch = { job: this.#job, seq: this.#seq++, reports: this.#queued }
    this.#queued = []
    this.#queuedBytes = 0
    this.#chain = this.#chain
      .then(async () => this.#send(await encodeReportBatch(this.#key, batch)))
      .catch(err => {
        // the controller gave up or the link towards it broke: nothing more can get through on this broadcast
        this.#ended = true
        this.#log.warn({ job: this.#job, err: String(err) }, 'report not delivered')
      })
    return this.#chain
  }
}

/** Bytes a report adds to a batch, roughly (output data dominates). */
function estimate(r: Report): number {
  return r.type === 'output' ? r.data.length + 64 : 256
}
