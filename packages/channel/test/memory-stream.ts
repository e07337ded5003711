/**
 * A pair of in-process Streams joined back to back, for fast handshake and fuzz tests without a muxer. It keeps the
 * Stream contract that matters here: one source iteration, one sink, half-close, reset, and it counts the writes
 * (flights) each side made so tests can check round trips.
 */
import type { AbortOptions, Chunk, HalfStatus, PeerId, Source, Stream, StreamStats, StreamStatus } from '@pnet/network'
import { StreamResetError, StreamStateError } from '@pnet/network'

class Side implements Stream {
  readonly id: string
  readonly direction: 'inbound' | 'outbound'
  readonly labels: Record<string, string> = {}
  readonly stats: StreamStats = { bytesIn: 0, bytesOut: 0, opened: Date.now() }
  status: StreamStatus = 'open'
  readStatus: HalfStatus = 'open'
  writeStatus: HalfStatus = 'open'
  /** every chunk this side wrote, in order */
  readonly writes: Uint8Array[] = []
  readonly closed: Promise<Error | undefined>
  #resolveClosed!: (err: Error | undefined) => void
  other!: Side
  readonly #inbox: Uint8Array[] = []
  #remoteEnded = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #sourceTaken = false
  #sinkCalled = false

  constructor(
    readonly remotePeer: PeerId,
    id: string,
    direction: 'inbound' | 'outbound',
  ) {
    this.id = id
    this.direction = direction
    this.closed = new Promise(resolve => {
      this.#resolveClosed = resolve
    })
  }

  deliver(chunk: Uint8Array): void {
    if (this.readStatus === 'closed') return
    this.#inbox.push(chunk)
    this.stats.bytesIn += chunk.byteLength
    this.#notify()
  }

  remoteEnd(): void {
    this.#remoteEnded = true
    this.#notify()
    this.#maybeClosed()
  }

  reset(): void {
    if (this.status !== 'open') return
    this.#error = new StreamResetError(this.remotePeer.toString(), this.id)
    this.status = 'reset'
    this.readStatus = 'closed'
    this.writeStatus = 'closed'
    this.#notify()
    this.#resolveClosed(this.#error)
  }

  #notify(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  #maybeClosed(): void {
    if (
      this.status === 'open' &&
      this.writeStatus === 'closed' &&
      (this.#remoteEnded || this.readStatus === 'closed')
    ) {
      this.status = 'closed'
      this.#resolveClosed(undefined)
    }
  }

  get source(): AsyncIterable<Uint8Array> {
    if (this.#sourceTaken) throw new StreamStateError(this.id, 'source can be iterated only once')
    this.#sourceTaken = true
    return this.#read()
  }

  async *#read(): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        const chunk = this.#inbox.shift()
        if (chunk !== undefined) {
          yield chunk
          continue
        }
        if (this.#error !== undefined) throw this.#error
        if (this.#remoteEnded || this.readStatus === 'closed') return
        await new Promise<void>(r => {
          this.#wake = r
        })
      }
    } finally {
      this.readStatus = 'closed'
      this.#maybeClosed()
    }
  }

  async sink(source: Source<Chunk>): Promise<void> {
    if (this.#sinkCalled) throw new StreamStateError(this.id, 'sink can be called only once')
    this.#sinkCalled = true
    try {
      for await (const chunk of source) {
        if (this.#error !== undefined) throw this.#error
        if (this.writeStatus === 'closed') throw new StreamStateError(this.id, 'write side is closed')
        const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        if (bytes.byteLength === 0) continue
        const copy = bytes.slice()
        this.writes.push(copy)
        this.stats.bytesOut += copy.byteLength
        this.other.deliver(copy)
        await new Promise(r => setImmediate(r))
      }
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
    await this.closeWrite()
  }

  async closeWrite(_options?: AbortOptions): Promise<void> {
    if (this.writeStatus === 'closed') return
    this.writeStatus = 'closed'
    this.other.remoteEnd()
    this.#maybeClosed()
  }

  async close(options?: AbortOptions): Promise<void> {
    this.readStatus = 'closed'
    this.#inbox.length = 0
    this.#notify()
    await this.closeWrite(options)
  }

  abort(_err: Error): void {
    if (this.status !== 'open') return
    this.#error = new StreamStateError(this.id, 'aborted')
    this.status = 'aborted'
    this.readStatus = 'closed'
    this.writeStatus = 'closed'
    this.#notify()
    this.#resolveClosed(this.#error)
    this.other.reset()
  }
}

export type MemoryStream = Stream & { readonly writes: Uint8Array[] }

/** [caller end, callee end]: `a.remotePeer` is `peerB` and vice versa. */
export function memoryStreamPair(peerA: PeerId, peerB: PeerId): [MemoryStream, MemoryStream] {
  const a = new Side(peerB, 'a', 'outbound')
  const b = new Side(peerA, 'b', 'inbound')
  a.other = b
  b.other = a
  return [a, b]
}
