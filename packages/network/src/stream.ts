/**
 * Our Stream over a libp2p 3.x muxed stream (an event-driven MessageStream: QUIC's native streams).
 *
 * The libp2p stream delivers data as 'message' events and, left alone, buffers without bound for a reader that does
 * not read. Here incoming chunks go into the reader's queue; above `streamReadBufferBytes` the inner stream is paused
 * (the muxer withholds flow-control credit, so the remote writer stalls), and resumed below half of it.
 */
import type { Stream as Libp2pStream, PeerId } from '@libp2p/interface'
import { BaseStream } from './base-stream.js'
import { messageOf, StreamAbortedError, StreamResetError } from './errors.js'

/** What a stream reports to its connection. */
export interface StreamOwner {
  readonly remotePeer: PeerId
  /** a stream carried data: the connection is not idle */
  touch(): void
  /** the stream has ended in every direction */
  streamEnded(stream: MuxedStream): void
}

export class MuxedStream extends BaseStream {
  readonly #inner: Libp2pStream
  readonly #owner: StreamOwner
  readonly #highWater: number
  #paused = false

  constructor(inner: Libp2pStream, id: string, owner: StreamOwner, readBufferBytes: number) {
    super(id, inner.direction, owner.remotePeer)
    this.#inner = inner
    this.#owner = owner
    this.#highWater = Math.max(1, readBufferBytes)

    inner.addEventListener('message', evt => {
      const data = evt.data
      // a list is queued piece by piece, not joined
      if (data instanceof Uint8Array) this.push(data)
      else for (const piece of data) this.push(piece)
      owner.touch()
      if (this.queuedBytes >= this.#highWater && !this.#paused && inner.readStatus === 'readable') {
        this.#paused = true
        inner.pause()
      }
    })
    inner.addEventListener('remoteCloseWrite', () => this.pushEnd())
    inner.addEventListener('close', evt => {
      if (evt.error === undefined) {
        this.pushEnd()
        return
      }
      if (inner.status === 'reset') this.fail(new StreamResetError(this.remotePeer.toString(), this.id), 'reset')
      else {
        const cause = evt.error
        this.fail(new StreamAbortedError(this.remotePeer.toString(), this.id, messageOf(cause), { cause }), 'aborted')
      }
    })
  }

  protected writeChunk(chunk: Uint8Array): Promise<void> | undefined {
    this.#inner.send(chunk)
    this.#owner.touch()
    // libp2p's onDrain() keeps returning its first, settled promise; wait for real 'drain' events instead
    return this.#inner.writableNeedsDrain ? this.#drained() : undefined
  }

  async #drained(): Promise<void> {
    while (this.#inner.writableNeedsDrain && this.status === 'open') await nextDrain(this.#inner)
  }

  protected sendFin(): Promise<void> {
    return this.#inner.close()
  }

  protected sendReset(err: Error): void {
    this.#inner.abort(err)
  }

  protected onConsumed(): void {
    if (this.#paused && this.queuedBytes < this.#highWater / 2) {
      this.#paused = false
      if (this.#inner.readStatus === 'paused') this.#inner.resume()
    }
  }

  protected onEnded(): void {
    this.#owner.streamEnded(this)
  }
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
