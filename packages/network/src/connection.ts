/**
 * Our Connection over a libp2p 3.x stream muxer (yamux) running on a secured MessageStream.
 *
 * It owns stream limits (a peer that keeps opening streams past the inbound limit is cut off), the idle timeout,
 * wire byte counters, and the graceful close that drains streams for a bounded time.
 */
import type { Stream as Libp2pStream, MessageStream, PeerId, StreamMuxer } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ConnectionClosedError,
  IdleTimeoutError,
  messageOf,
  ProtocolViolationError,
  TooManyStreamsError,
} from './errors.js'
import type {
  AbortOptions,
  AdmissionTicket,
  Connection,
  ConnectionHandlers,
  ConnectionStats,
  ConnectionStatus,
  Direction,
  Limits,
  Stream,
} from './interface.js'
import { DEFAULT_CLOSE_TIMEOUT_MS, STREAM_LIMIT_STRIKES } from './limits.js'
import type { Logger } from './logger.js'
import { MuxedStream, type StreamOwner } from './stream.js'

let nextConnectionId = 0

/** A short, process-unique connection ID. */
export function newConnectionId(): string {
  nextConnectionId = (nextConnectionId + 1) % Number.MAX_SAFE_INTEGER
  return `c${nextConnectionId.toString(36)}${Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0')}`
}

export interface MuxedConnectionInit extends ConnectionHandlers {
  direction: Direction
  localPeer: PeerId
  remotePeer: PeerId
  remoteAddr: Multiaddr
  transport: string
  encryption: string
  /** the secured byte stream the muxer runs on (closed with the connection) */
  secured: MessageStream
  /** the raw transport connection under it; its end is the connection's end */
  raw: MessageStream
  muxer: StreamMuxer
  limits: Readonly<Limits>
  logger: Logger
  ticket?: AdmissionTicket
  /** wire counters, updated by whoever sees the raw bytes */
  wire: { bytesIn: number; bytesOut: number }
}

export class MuxedConnection implements Connection, StreamOwner {
  readonly id = newConnectionId()
  readonly direction: Direction
  readonly localPeer: PeerId
  readonly remotePeer: PeerId
  readonly remoteAddr: Multiaddr
  readonly transport: string
  readonly encryption: string
  readonly multiplexer: string
  status: ConnectionStatus = 'open'
  readonly closed: Promise<Error | undefined>

  readonly #init: MuxedConnectionInit
  readonly #streams = new Set<MuxedStream>()
  readonly #counts = { streamsInbound: 0, streamsOutbound: 0, payloadIn: 0, payloadOut: 0 }
  readonly #opened = Date.now()
  #closedAt: number | undefined
  #inboundOpen = 0
  #outboundOpen = 0
  #strikes = 0
  #lastActive = Date.now()
  #idleTimer: NodeJS.Timeout | undefined
  #resolveClosed!: (err: Error | undefined) => void
  #log: Logger

  constructor(init: MuxedConnectionInit) {
    this.#init = init
    this.direction = init.direction
    this.localPeer = init.localPeer
    this.remotePeer = init.remotePeer
    this.remoteAddr = init.remoteAddr
    this.transport = init.transport
    this.encryption = init.encryption
    this.multiplexer = init.muxer.protocol
    this.#log = init.logger
    this.closed = new Promise(resolve => {
      this.#resolveClosed = resolve
    })

    init.muxer.addEventListener('stream', evt => this.#onInbound(evt.detail))
    // whichever layer notices first: the secured stream or the raw transport under it
    init.secured.addEventListener('close', evt => this.#ended(evt.error))
    init.raw.addEventListener('close', evt => this.#ended(evt.error))
    this.#scheduleIdleCheck()
  }

  get streams(): readonly Stream[] {
    return [...this.#streams]
  }

  get stats(): Readonly<ConnectionStats> {
    return {
      opened: this.#opened,
      closed: this.#closedAt,
      bytesIn: this.#init.wire.bytesIn,
      bytesOut: this.#init.wire.bytesOut,
      streamsInbound: this.#counts.streamsInbound,
      streamsOutbound: this.#counts.streamsOutbound,
      openStreams: this.#streams.size,
    }
  }

  async newStream(options?: AbortOptions): Promise<Stream> {
    options?.signal?.throwIfAborted()
    if (this.status !== 'open') throw new ConnectionClosedError(this.remotePeer.toString(), `is ${this.status}`)
    if (this.#outboundOpen >= this.#init.limits.maxOutboundStreams) {
      throw new TooManyStreamsError('outbound', this.remotePeer.toString(), this.#init.limits.maxOutboundStreams)
    }
    let inner: Libp2pStream
    try {
      inner = await this.#init.muxer.createStream({ signal: options?.signal })
    } catch (err) {
      throw new ConnectionClosedError(this.remotePeer.toString(), `cannot open a stream: ${messageOf(err)}`, {
        cause: err,
      })
    }
    this.#outboundOpen++
    this.#counts.streamsOutbound++
    return this.#track(inner)
  }

  #onInbound(inner: Libp2pStream): void {
    const { limits } = this.#init
    if (this.status !== 'open' || this.#init.onStream === undefined) {
      inner.abort(new Error(this.status !== 'open' ? 'connection closing' : 'no stream handler'))
      return
    }
    if (this.#inboundOpen >= limits.maxInboundStreams) {
      inner.abort(new TooManyStreamsError('inbound', this.remotePeer.toString(), limits.maxInboundStreams))
      this.#strikes++
      this.#log.warn(
        { peer: this.remotePeer.toString(), limit: limits.maxInboundStreams, strikes: this.#strikes },
        'inbound stream refused: past limits.maxInboundStreams',
      )
      if (this.#strikes >= STREAM_LIMIT_STRIKES) {
        this.abort(
          new ProtocolViolationError(
            this.remotePeer.toString(),
            `kept opening streams past limits.maxInboundStreams (${limits.maxInboundStreams}); ${this.#strikes} refused`,
          ),
        )
      }
      return
    }
    this.#inboundOpen++
    this.#counts.streamsInbound++
    const stream = this.#track(inner)
    try {
      this.#init.onStream(stream, this)
    } catch (err) {
      this.#log.error({ peer: this.remotePeer.toString(), err: messageOf(err) }, 'stream handler threw')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #track(inner: Libp2pStream): MuxedStream {
    floorRtt(inner)
    const stream = new MuxedStream(inner, `${this.id}/${inner.id}`, this, this.#init.limits.streamReadBufferBytes)
    this.#streams.add(stream)
    this.touch()
    return stream
  }

  // StreamOwner
  touch(): void {
    this.#lastActive = Date.now()
  }

  countPayload(bytesIn: number, bytesOut: number): void {
    this.#counts.payloadIn += bytesIn
    this.#counts.payloadOut += bytesOut
  }

  streamEnded(stream: MuxedStream): void {
    if (!this.#streams.delete(stream)) return
    if (stream.direction === 'inbound') this.#inboundOpen--
    else this.#outboundOpen--
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') {
      await this.closed
      return
    }
    this.status = 'closing'
    const signal = options?.signal ?? AbortSignal.timeout(DEFAULT_CLOSE_TIMEOUT_MS)
    // yamux closes every stream's write side and waits for them, then sends GoAway; then the socket closes.
    const graceful = (async () => {
      await this.#init.muxer.close({ signal })
      await this.#init.secured.close({ signal })
    })()
    const outcome = await Promise.race([
      graceful.then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      this.closed.then(() => undefined), // the remote or the transport ended it first: done too
      new Promise<Error>(resolve => {
        if (signal.aborted) resolve(new Error('close deadline passed'))
        signal.addEventListener('abort', () => resolve(new Error('close deadline passed')), { once: true })
      }),
    ])
    if (outcome !== undefined) {
      this.abort(new ConnectionClosedError(this.remotePeer.toString(), `graceful close cut short: ${outcome.message}`))
      return
    }
    this.#ended(undefined)
  }

  abort(err: Error): void {
    if (this.status === 'closed') return
    this.#log.debug({ peer: this.remotePeer.toString(), reason: err.message }, 'connection aborted')
    this.status = 'closing'
    this.#init.muxer.abort(err)
    this.#init.secured.abort(err)
    this.#init.raw.abort(err)
    this.#ended(err)
  }

  #ended(err: Error | undefined): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.#closedAt = Date.now()
    clearTimeout(this.#idleTimer)
    for (const stream of this.#streams) {
      stream.abort(err ?? new ConnectionClosedError(this.remotePeer.toString()))
    }
    this.#init.ticket?.release()
    this.#resolveClosed(err)
    try {
      this.#init.onClose?.(this, err)
    } catch (e) {
      this.#log.error({ err: messageOf(e) }, 'onClose handler threw')
    }
  }

  #scheduleIdleCheck(): void {
    const idle = this.#init.limits.idleTimeoutMs
    if (idle <= 0) return
    const check = (): void => {
      if (this.status !== 'open') return
      const quiet = Date.now() - this.#lastActive
      if (this.#streams.size === 0 && quiet >= idle) {
        this.#log.info({ peer: this.remotePeer.toString(), idleMs: quiet }, 'closing idle connection')
        this.abort(new IdleTimeoutError(this.remotePeer.toString(), idle))
        return
      }
      this.#idleTimer = setTimeout(check, Math.max(50, idle - (this.#streams.size === 0 ? quiet : 0)))
      this.#idleTimer.unref()
    }
    this.#idleTimer = setTimeout(check, idle)
    this.#idleTimer.unref()
  }
}

/**
 * yamux grows a stream's receive window only when a window's worth of data was read within 4 RTTs, with the RTT
 * measured in whole milliseconds by Date.now(). On a LAN or loopback the RTT reads 0 (or -1 before the first ping),
 * the test never passes, and the window stays at 256 KiB: the sender stalls for a window update every 256 KiB. An
 * RTT below the clock's resolution is at most 1 ms, so it is floored there. Receive-side policy only: nothing on the
 * wire changes.
 */
function floorRtt(inner: Libp2pStream): void {
  const stream = inner as Libp2pStream & { getRTT?: () => number }
  const measured = stream.getRTT
  if (typeof measured !== 'function') return
  stream.getRTT = () => Math.max(1, measured())
}
