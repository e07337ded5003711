/**
 * The Stream an application gets once a channel is open: the same interface as the network's Stream, carrying on
 * where the handshake stopped (bytes that arrived with the handshake come first; nothing is lost or repeated).
 */
import type { AbortOptions, Chunk, HalfStatus, Source, Stream, StreamStats, StreamStatus } from '@pnet/network'
import { NetworkError, StreamResetError, StreamStateError } from '@pnet/network'
import { ChannelClosedError, messageOf, toError } from './errors.js'
import { raceSignal, type StreamReader, type StreamWriter } from './io.js'

export class ChannelStream implements Stream {
  readonly #inner: Stream
  readonly #reader: StreamReader
  readonly #writer: StreamWriter
  readonly #onFailure: ((err: Error) => void) | undefined
  #sourceTaken = false
  #sinkCalled = false

  constructor(inner: Stream, reader: StreamReader, writer: StreamWriter, onFailure?: (err: Error) => void) {
    this.#inner = inner
    this.#reader = reader
    this.#writer = writer
    this.#onFailure = onFailure
    reader.beforeWait = undefined
    writer.done.catch(err => onFailure?.(toError(err)))
  }

  get id(): string {
    return this.#inner.id
  }
  get direction(): Stream['direction'] {
    return this.#inner.direction
  }
  get remotePeer(): Stream['remotePeer'] {
    return this.#inner.remotePeer
  }
  get labels(): Record<string, string> {
    return this.#inner.labels
  }
  get status(): StreamStatus {
    return this.#inner.status
  }
  get readStatus(): HalfStatus {
    return this.#inner.readStatus
  }
  get writeStatus(): HalfStatus {
    return this.#inner.writeStatus
  }
  get stats(): Readonly<StreamStats> {
    return this.#inner.stats
  }
  get closed(): Promise<Error | undefined> {
    return this.#inner.closed
  }

  get source(): AsyncIterable<Uint8Array> {
    if (this.#sourceTaken) throw new StreamStateError(this.id, 'source can be iterated only once')
    this.#sourceTaken = true
    return this.#watch(this.#reader.rest())
  }

  async *#watch(source: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      yield* source
    } catch (err) {
      this.#onFailure?.(toError(err))
      throw this.#named(err)
    }
  }

  sink(source: Source<Chunk>): Promise<void> {
    if (this.#sinkCalled) return Promise.reject(new StreamStateError(this.id, 'sink can be called only once'))
    this.#sinkCalled = true
    return this.#writer.pipe(source).catch(err => {
      throw this.#named(err)
    })
  }

  /**
   * A failure of the stream under us as a ChannelClosedError naming the channel and the peer: a bare "stream 7 was
   * reset" says nothing to the caller whose remote handler crashed (a reset is all the wire carries). Errors of the
   * caller's own making (its source threw, a second sink) pass through unchanged.
   */
  #named(err: unknown): unknown {
    if (!(err instanceof NetworkError) || err instanceof StreamStateError) return err
    const channel = this.#inner.labels.channel ?? '(unnamed channel)'
    const why =
      err instanceof StreamResetError
        ? 'stream reset by the remote (its handler failed, or it went away)'
        : `stream failed: ${messageOf(err)}`
    return new ChannelClosedError(channel, this.remotePeer.toString(), why, { cause: err })
  }

  async closeWrite(options?: AbortOptions): Promise<void> {
    if (this.#writer.piped) {
      await this.#inner.closeWrite(options)
      return
    }
    await raceSignal(this.#writer.end(), options?.signal)
  }

  async close(options?: AbortOptions): Promise<void> {
    this.#reader.stop()
    if (!this.#writer.piped) await raceSignal(this.#writer.end(), options?.signal).catch(() => {})
    // bounded by the signal even if the underlying stream ignores it
    await raceSignal(this.#inner.close(options), options?.signal)
  }

  abort(err: Error): void {
    this.#inner.abort(err)
    this.#onFailure?.(err)
  }
}
