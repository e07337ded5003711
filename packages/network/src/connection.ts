/**
 * Our Connection over a libp2p 3.x StreamMuxer (QUIC's native streams, through quic-streams.ts). Byte-stream
 * transports use yamux/session.ts instead.
 */
import type { Stream as Libp2pStream, MessageStream, StreamMuxer } from '@libp2p/interface'
import { ConnectionBase, type ConnectionBaseInit } from './connection-base.js'
import { ConnectionClosedError, messageOf } from './errors.js'
import type { AbortOptions, Stream } from './interface.js'
import { DEFAULT_CLOSE_TIMEOUT_MS } from './limits.js'
import { MuxedStream, type StreamOwner } from './stream.js'

export { newConnectionId } from './connection-base.js'

export interface MuxedConnectionInit extends Omit<ConnectionBaseInit, 'multiplexer'> {
  /** the secured byte stream or connection the muxer runs on (closed with the connection) */
  secured: MessageStream
  /** the raw transport connection under it; its end is the connection's end */
  raw: MessageStream
  muxer: StreamMuxer
  /** wire counters, updated by whoever sees the raw bytes */
  wire: { bytesIn: number; bytesOut: number }
}

export class MuxedConnection extends ConnectionBase implements StreamOwner {
  readonly #init: MuxedConnectionInit

  constructor(init: MuxedConnectionInit) {
    super({ ...init, multiplexer: init.muxer.protocol })
    this.#init = init
    init.muxer.addEventListener('stream', evt => this.#onInbound(evt.detail))
    // whichever layer notices first: the secured stream or the raw transport under it
    init.secured.addEventListener('close', evt => this.#gone(evt.error))
    init.raw.addEventListener('close', evt => this.#gone(evt.error))
  }

  protected wireBytes(): { bytesIn: number; bytesOut: number } {
    return this.#init.wire
  }

  async newStream(options?: AbortOptions): Promise<Stream> {
    this.checkOutbound(options)
    let inner: Libp2pStream
    try {
      inner = await this.#init.muxer.createStream({ signal: options?.signal })
    } catch (err) {
      throw new ConnectionClosedError(this.remotePeer.toString(), `cannot open a stream: ${messageOf(err)}`, {
        cause: err,
      })
    }
    const stream = this.#wrap(inner)
    this.track(stream)
    return stream
  }

  #onInbound(inner: Libp2pStream): void {
    if (!this.admitInbound()) {
      inner.abort(new Error(this.status !== 'open' ? 'connection closing' : 'stream refused'))
      return
    }
    this.track(this.#wrap(inner))
  }

  #wrap(inner: Libp2pStream): MuxedStream {
    return new MuxedStream(inner, `${this.id}/${inner.id}`, this, this.limits.streamReadBufferBytes)
  }

  streamEnded(stream: MuxedStream): void {
    this.untrack(stream)
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') {
      await this.closed
      return
    }
    this.status = 'closing'
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<Error>(resolve => {
      const signal = options?.signal
      // a timer of our own (not unref'd), so close() settles even when nothing else keeps the process alive
      if (signal === undefined)
        timer = setTimeout(() => resolve(new Error('close deadline passed')), DEFAULT_CLOSE_TIMEOUT_MS)
      else if (signal.aborted) resolve(new Error('close deadline passed'))
      else signal.addEventListener('abort', () => resolve(new Error('close deadline passed')), { once: true })
    })
    const graceful = (async () => {
      await this.#init.muxer.close()
      await this.#init.secured.close()
    })()
    const outcome = await Promise.race([
      graceful.then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      this.closed.then(() => undefined), // the remote or the transport ended it first: done too
      deadline,
    ])
    clearTimeout(timer)
    if (outcome !== undefined) {
      this.abort(new ConnectionClosedError(this.remotePeer.toString(), `graceful close cut short: ${outcome.message}`))
      return
    }
    this.#gone(undefined)
  }

  /** Native QUIC streams cannot be held back from here: a muted connection is aborted. */
  mute(reason: Error): void {
    this.abort(reason)
  }

  abort(err: Error): void {
    if (this.status === 'closed') return
    this.log.debug({ peer: this.remotePeer.toString(), reason: err.message }, 'connection aborted')
    this.status = 'closing'
    this.#init.muxer.abort(err)
    this.#init.secured.abort(err)
    this.#init.raw.abort(err)
    this.#gone(err)
  }

  #gone(err: Error | undefined): void {
    if (this.status === 'closed') return
    const reason = err ?? new ConnectionClosedError(this.remotePeer.toString())
    for (const s of this.openStreams()) s.abort(reason)
    this.finished(err)
  }
}
