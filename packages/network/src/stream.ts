/**
 * Our Stream over a libp2p 3.x muxed stream (an event-driven MessageStream, e.g. a yamux stream).
 *
 * The libp2p stream delivers data as 'message' events and, left alone, buffers without bound for a reader that does
 * not read. Here incoming chunks go into a queue; above `streamReadBufferBytes` the inner stream is paused, which makes
 * yamux withhold window updates so the remote writer stalls. Reading below half the mark resumes it.
 */
import type { Stream as Libp2pStream, PeerId } from '@libp2p/interface'
import { messageOf, StreamAbortedError, StreamResetError, StreamStateError } from './errors.js'
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

/** What a stream reports to its connection. */
export interface StreamOwner {
  readonly remotePeer: PeerId
  /** a stream carried data or opened/closed: the connection is not idle */
  touch(): void
  /** bytes moved, for connection-level counters */
  countPayload(bytesIn: number, bytesOut: number): void
  /** the stream has ended in every direction */
  streamEnded(stream: MuxedStream): void
}

export class MuxedStream implements Stream {
  readonly id: string
  readonly direction: Direction
  readonly remotePeer: PeerId
  readonly labels: Record<string, string> = {}
  readonly stats: StreamStats = { bytesIn: 0, bytesOut: 0, opened: Date.now() }
  status: StreamStatus = 'open'
  readStatus: HalfStatus = 'open'
  writeStatus: HalfStatus = 'open'

  readonly #inner: Libp2pStream
  readonly #owner: StreamOwner
  readonly #highWater: number
  readonly #queue: Uint8Array[] = []
  #queued = 0
  #paused = false
  #remoteEnded = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #sourceTaken = false
  #sinkCalled = false
  #ended = false
  readonly #onDeath = new Set<(err: Error) => void>()

  constructor(inner: Libp2pStream, id: string, owner: StreamOwner, readBufferBytes: number) {
    this.#inner = inner
    this.id = id
    this.direction = inner.direction
    this.#owner = owner
    this.remotePeer = owner.remotePeer
    this.#highWater = Math.max(1, readBufferBytes)

    inner.addEventListener('message', evt => {
      const data = evt.data
      const size = data.byteLength
      if (size === 0) return
      this.stats.bytesIn += size
      this.#owner.countPayload(size, 0)
      this.#owner.touch()
      if (this.readStatus === 'closed') return // reader went away: discard
      // a list (a yamux frame spanning several Noise messages) is queued piece by piece, not joined
      if (data instanceof Uint8Array) this.#queue.push(data)
      else for (const piece of data) this.#queue.push(piece)
      this.#queued += size
      if (this.#queued >= this.#highWater && !this.#paused && inner.readStatus === 'readable') {
        this.#paused = true
        inner.pause()
      }
      this.#notify()
    })
    inner.addEventListener('remoteCloseWrite', () => {
      this.#remoteEnded = true
      this.#notify()
    })
    inner.addEventListener('close', evt => {
      if (evt.error !== undefined) {
        const reset = inner.status === 'reset'
        this.#fail(
          reset
            ? new StreamResetError(this.remotePeer.toString(), this.id)
            : new StreamAbortedError(this.remotePeer.toString(), this.id, messageOf(evt.error), { cause: evt.error }),
          reset ? 'reset' : 'aborted',
        )
      } else {
        this.#remoteEnded = true
        this.#notify()
        this.#finish('closed')
      }
    })
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
          if (this.#paused && this.#queued < this.#highWater / 2) {
            this.#paused = false
            if (this.#inner.readStatus === 'paused') this.#inner.resume()
          }
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
      // the consumer stopped early (break/return) or finished: nothing more will be read
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
    const iterator = toAsyncIterator(source)
    try {
      while (true) {
        // a source stuck in an await must not keep a dead stream's sink pending
        const next = await this.#raceDeath(Promise.resolve(iterator.next()))
        if (next.done === true) break
        const chunk = next.value
        if (this.writeStatus === 'closed') {
          throw this.#error ?? new StreamStateError(this.id, 'write side is closed')
        }
        if (chunk.byteLength === 0) continue
        const inner = this.#inner
        inner.send(chunk)
        this.stats.bytesOut += chunk.byteLength
        this.#owner.countPayload(0, chunk.byteLength)
        this.#owner.touch()
        // libp2p's onDrain() keeps returning its first, settled promise; wait for real 'drain' events instead
        while (inner.writableNeedsDrain && this.status === 'open') await this.#raceDeath(nextDrain(inner))
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      Promise.resolve(iterator.return?.()).catch(() => {})
      this.abort(error)
      throw this.#error ?? error
    }
    await this.closeWrite()
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
    if (this.writeStatus === 'closed') return
    this.writeStatus = 'closed'
    try {
      await this.#inner.close(options)
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)))
      throw this.#error
    }
    this.#maybeEnded()
  }

  async close(options?: AbortOptions): Promise<void> {
    this.#closeRead()
    await this.closeWrite(options)
  }

  abort(err: Error): void {
    if (this.status !== 'open') return
    this.#fail(new StreamAbortedError(this.remotePeer.toString(), this.id, err.message, { cause: err }), 'aborted')
    this.#inner.abort(err)
  }

  #closeRead(): void {
    if (this.readStatus === 'closed') return
    this.readStatus = 'closed'
    this.#queue.length = 0
    this.#queued = 0
    if (this.#paused && this.#inner.readStatus === 'paused') {
      // keep granting window so the remote can finish its writes; the data is discarded on arrival
      this.#paused = false
      this.#inner.resume()
    }
    this.#notify()
    this.#maybeEnded()
  }

  #fail(err: Error, status: StreamStatus): void {
    if (this.#error === undefined) this.#error = err
    for (const reject of this.#onDeath) reject(this.#error)
    this.#onDeath.clear()
    this.readStatus = 'closed'
    this.writeStatus = 'closed'
    this.#notify()
    this.#finish(status)
  }

  #maybeEnded(): void {
    if (this.writeStatus === 'closed' && (this.#remoteEnded || this.readStatus === 'closed')) {
      if (this.#inner.status !== 'open') this.#finish(this.#inner.status === 'reset' ? 'reset' : 'closed')
    }
  }

  #finish(status: StreamStatus): void {
    if (this.#ended) return
    this.#ended = true
    if (this.status === 'open') this.status = status
    this.readStatus = this.#queue.length > 0 ? this.readStatus : 'closed'
    this.writeStatus = 'closed'
    this.stats.closed = Date.now()
    this.#owner.touch()
    this.#owner.streamEnded(this)
  }
}

function toAsyncIterator<T>(source: Source<T>): AsyncIterator<T> | Iterator<T> {
  const asyncIt = (source as AsyncIterable<T>)[Symbol.asyncIterator]
  if (typeof asyncIt === 'function') return asyncIt.call(source)
  return (source as Iterable<T>)[Symbol.iterator]()
}

/** The next 'drain' of a libp2p stream; rejects if it closes first. */
function nextDrain(inner: Libp2pStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      inner.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (evt: Event): void => {
      inner.removeEventListener('drain', onDrain)
      reject((evt as Event & { error?: Error }).error ?? new Error('stream closed while waiting to write'))
    }
    inner.addEventListener('drain', onDrain, { once: true })
    inner.addEventListener('close', onClose, { once: true })
  })
}
