/**
 * What every Stream implementation shares: the read queue behind `source`, the write loop behind `sink`, the
 * half-close and abort state machine, counters. A muxer supplies five hooks: how to write a chunk (and when to wait),
 * how to send FIN and RST, what to do when the reader consumed bytes (grant flow-control credit), and what to do
 * once the stream has ended.
 */
import type { PeerId } from '@libp2p/interface'
import { StreamAbortedError, StreamStateError, withoutStack } from './errors.js'
import type {
  AbortOptions,
  Chunk,
  Direction,
  HalfStatus,
  Source,
  Stream,
  StreamStats,
  StreamStatus,
} from './interface.js'

export abstract class BaseStream implements Stream {
  readonly id: string
  readonly direction: Direction
  readonly remotePeer: PeerId
  readonly labels: Record<string, string> = {}
  readonly stats: StreamStats = { bytesIn: 0, bytesOut: 0, opened: Date.now() }
  status: StreamStatus = 'open'
  readStatus: HalfStatus = 'open'
  writeStatus: HalfStatus = 'open'
  readonly closed: Promise<Error | undefined>
  #resolveClosed!: (err: Error | undefined) => void

  readonly #queue: Uint8Array[] = []
  #queued = 0
  #remoteEnded = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #sourceTaken = false
  #sinkCalled = false
  #ended = false
  #finSent = false
  readonly #onDeath = new Set<(err: Error) => void>()

  protected constructor(id: string, direction: Direction, remotePeer: PeerId) {
    this.id = id
    this.direction = direction
    this.remotePeer = remotePeer
    this.closed = new Promise(resolve => {
      this.#resolveClosed = resolve
    })
  }

  /** Writes one chunk; returns a promise when the caller must wait before the next (flow control, drain). */
  protected abstract writeChunk(chunk: Uint8Array): Promise<void> | undefined
  /** Tells the remote our write side is done (after everything written before). */
  protected abstract sendFin(): Promise<void> | undefined
  /** Tells the remote the stream is reset. */
  protected abstract sendReset(err: Error): void
  /** The reader took `bytes` off the queue. */
  protected abstract onConsumed(bytes: number): void
  /** The stream ended in both directions (or failed); called once. */
  protected abstract onEnded(): void

  /** Bytes waiting for the reader. */
  protected get queuedBytes(): number {
    return this.#queued
  }

  /** Incoming payload from the remote. */
  protected push(data: Uint8Array): void {
    if (data.byteLength === 0) return
    this.stats.bytesIn += data.byteLength
    if (this.readStatus === 'closed') {
      this.onConsumed(data.byteLength) // nobody reads: discard, but keep the remote's window moving
      return
    }
    this.#queue.push(data)
    this.#queued += data.byteLength
    this.#notify()
  }

  /** The remote closed its write side. */
  protected pushEnd(): void {
    this.#remoteEnded = true
    this.#notify()
    this.#maybeEnded()
  }

  /** The remote reset the stream, or the connection died under it. */
  protected fail(err: Error, status: 'aborted' | 'reset'): void {
    if (this.#ended) return
    if (this.#error === undefined) this.#error = err
    for (const reject of this.#onDeath) reject(err)
    this.#onDeath.clear()
    this.writeStatus = 'closed'
    this.#remoteEnded = true
    this.#notify()
    this.#end(status)
  }

  get source(): AsyncIterable<Uint8Array> {
    if (this.#sourceTaken) throw new StreamStateError(this.id, 'source can be iterated only once')
    this.#sourceTaken = true
    return this.#read()
  }

  async *#read(): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        const chunk = this.#queue.shift()
        if (chunk !== undefined) {
          this.#queued -= chunk.byteLength
          this.onConsumed(chunk.byteLength)
          yield chunk
          continue
        }
        if (this.#error !== undefined) throw this.#error
        if (this.#remoteEnded || this.readStatus === 'closed') return
        await new Promise<void>(resolve => {
          this.#wake = resolve
        })
      }
    } finally {
      this.#closeRead()
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async sink(source: Source<Chunk>): Promise<void> {
    if (this.#sinkCalled) throw new StreamStateError(this.id, 'sink can be called only once')
    this.#sinkCalled = true
    const iterator = iteratorOf(source)
    try {
      while (true) {
        // a source stuck in an await must not keep a dead stream's sink pending
        const next = await this.#raceDeath(Promise.resolve(iterator.next()))
        if (next.done === true) break
        if (this.writeStatus === 'closed') throw this.#error ?? new StreamStateError(this.id, 'write side is closed')
        const chunk = next.value
        if (chunk instanceof Uint8Array) await this.#write(chunk)
        else for (const piece of chunk) await this.#write(piece)
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      Promise.resolve(iterator.return?.()).catch(() => {})
      this.abort(error)
      throw this.#error ?? error
    }
    await this.closeWrite()
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength === 0) return
    this.stats.bytesOut += chunk.byteLength
    const wait = this.writeChunk(chunk)
    if (wait !== undefined) await this.#raceDeath(wait)
  }

  /** Settles with `p`, or rejects as soon as the stream fails. */
  #raceDeath<T>(p: Promise<T>): Promise<T> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    return new Promise<T>((resolve, reject) => {
      this.#onDeath.add(reject)
      p.then(
        v => {
          this.#onDeath.delete(reject)
          resolve(v)
        },
        e => {
          this.#onDeath.delete(reject)
          reject(e)
        },
      )
    })
  }

  async closeWrite(options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    if (this.writeStatus === 'closed') return
    this.writeStatus = 'closed'
    if (!this.#finSent) {
      this.#finSent = true
      const wait = this.sendFin()
      if (wait !== undefined) await this.#raceDeath(wait)
    }
    this.#maybeEnded()
  }

  async close(options?: AbortOptions): Promise<void> {
    this.#closeRead()
    await this.closeWrite(options)
  }

  abort(err: Error): void {
    if (this.#ended) return
    // the cause has the stack that matters; the wrapper's would only repeat it
    const error = withoutStack(
      () => new StreamAbortedError(this.remotePeer.toString(), this.id, err.message, { cause: err }),
    )
    this.sendReset(err)
    this.fail(error, 'aborted')
  }

  #closeRead(): void {
    if (this.readStatus === 'closed') return
    this.readStatus = 'closed'
    const dropped = this.#queued
    this.#queue.length = 0
    this.#queued = 0
    if (dropped > 0) this.onConsumed(dropped)
    this.#notify()
    this.#maybeEnded()
  }

  #maybeEnded(): void {
    if (this.writeStatus === 'closed' && this.#remoteEnded && this.#queue.length === 0) this.#end('closed')
  }

  #end(status: StreamStatus): void {
    if (this.#ended) return
    this.#ended = true
    if (this.status === 'open') this.status = status
    this.writeStatus = 'closed'
    if (this.#queue.length === 0) this.readStatus = 'closed'
    this.stats.closed = Date.now()
    this.onEnded()
    this.#resolveClosed(this.#error)
  }
}

function iteratorOf<T>(source: Source<T>): AsyncIterator<T> | Iterator<T> {
  const asyncIt = (source as AsyncIterable<T>)[Symbol.asyncIterator]
  if (typeof asyncIt === 'function') return asyncIt.call(source)
  return (source as Iterable<T>)[Symbol.iterator]()
}
