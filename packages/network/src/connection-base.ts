/**
 * What every Connection implementation shares: identity fields, the stream table and its limits (with strikes for a
 * peer that keeps opening streams past the inbound limit), the idle timeout, counters, and the end of life (`closed`,
 * onClose, the admission ticket). A muxer implements opening streams, closing and aborting.
 */
import type { PeerId } from '@libp2p/interface'
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
import { INBOUND_HANDLERS_PER_TURN, STREAM_LIMIT_STRIKES } from './limits.js'
import { type Logger, logThrottled } from './logger.js'

let nextConnectionId = 0

/** A short, process-unique connection ID. */
export function newConnectionId(): string {
  nextConnectionId = (nextConnectionId + 1) % Number.MAX_SAFE_INTEGER
  return `c${nextConnectionId.toString(36)}${Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0')}`
}

export interface ConnectionBaseInit extends ConnectionHandlers {
  direction: Direction
  localPeer: PeerId
  remotePeer: PeerId
  remoteAddr: Multiaddr
  transport: string
  encryption: string
  multiplexer: string
  limits: Readonly<Limits>
  logger: Logger
  ticket?: AdmissionTicket
}

export abstract class ConnectionBase implements Connection {
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

  protected readonly limits: Readonly<Limits>
  protected readonly log: Logger
  readonly #init: ConnectionBaseInit
  readonly #streams = new Set<Stream>()
  readonly #opened = Date.now()
  #closedAt: number | undefined
  #inboundOpen = 0
  #outboundOpen = 0
  #streamsInbound = 0
  #streamsOutbound = 0
  #strikes = 0
  #lastActive = Date.now()
  #idleTimer: NodeJS.Timeout | undefined
  #resolveClosed!: (err: Error | undefined) => void

  protected constructor(init: ConnectionBaseInit) {
    this.#init = init
    this.direction = init.direction
    this.localPeer = init.localPeer
    this.remotePeer = init.remotePeer
    this.remoteAddr = init.remoteAddr
    this.transport = init.transport
    this.encryption = init.encryption
    this.multiplexer = init.multiplexer
    this.limits = init.limits
    this.log = init.logger
    this.closed = new Promise(resolve => {
      this.#resolveClosed = resolve
    })
    this.#scheduleIdleCheck()
  }

  /** Wire bytes in and out, from whatever sees them. */
  protected abstract wireBytes(): { bytesIn: number; bytesOut: number }
  abstract newStream(options?: AbortOptions): Promise<Stream>
  abstract close(options?: AbortOptions): Promise<void>
  abstract abort(err: Error): void
  abstract mute(reason: Error): void

  get rttMs(): number | undefined {
    return undefined
  }

  get streams(): readonly Stream[] {
    return [...this.#streams]
  }

  get stats(): Readonly<ConnectionStats> {
    const wire = this.wireBytes()
    return {
      opened: this.#opened,
      closed: this.#closedAt,
      bytesIn: wire.bytesIn,
      bytesOut: wire.bytesOut,
      streamsInbound: this.#streamsInbound,
      streamsOutbound: this.#streamsOutbound,
      openStreams: this.#streams.size,
    }
  }

  /** Throws unless another outbound stream may be opened now. */
  protected checkOutbound(options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    if (this.status !== 'open') throw new ConnectionClosedError(this.remotePeer.toString(), `is ${this.status}`)
    if (this.#outboundOpen >= this.limits.maxOutboundStreams) {
      throw new TooManyStreamsError('outbound', this.remotePeer.toString(), this.limits.maxOutboundStreams)
    }
  }

  /**
   * Decides whether an inbound stream may open. Past the limit the caller resets it; a peer that collects
   * STREAM_LIMIT_STRIKES refusals is disconnected.
   */
  protected admitInbound(): boolean {
    if (this.status !== 'open' || this.#init.onStream === undefined) return false
    if (this.#inboundOpen < this.limits.maxInboundStreams) return true
    this.#strikes++
    // one line when it starts and one when the peer is cut off: a log line per refusal would amplify the flood
    if (this.#strikes === 1) {
      logThrottled(
        this.log,
        'warn',
        { peer: this.remotePeer.toString(), limit: this.limits.maxInboundStreams },
        'inbound stream refused: past limits.maxInboundStreams',
      )
    }
    if (this.#strikes === STREAM_LIMIT_STRIKES) {
      const reason = `kept opening streams past limits.maxInboundStreams (${this.limits.maxInboundStreams}); ${this.#strikes} refused`
      logThrottled(this.log, 'warn', { peer: this.remotePeer.toString(), reason }, 'peer cut off')
      queueMicrotask(() => this.abort(new ProtocolViolationError(this.remotePeer.toString(), reason)))
    }
    return false
  }

  /** Registers a new stream; inbound ones are handed to the stream handler. */
  protected track(stream: Stream): void {
    this.#streams.add(stream)
    if (stream.direction === 'inbound') {
      this.#inboundOpen++
      this.#streamsInbound++
    } else {
      this.#outboundOpen++
      this.#streamsOutbound++
    }
    this.touch()
    if (stream.direction !== 'inbound') return
    // One socket read can carry thousands of stream opens. Handlers start at most INBOUND_HANDLERS_PER_TURN per
    // event-loop turn and connection; the rest wait for the next turn, so a peer that opens streams in bulk (a
    // stream bomb) gets its turn like everyone else instead of stalling every other connection. Waiting streams
    // still count against limits.maxInboundStreams, so the queue is bounded and a bomb ends in refusals and a cut.
    if (this.#handlersThisTurn < INBOUND_HANDLERS_PER_TURN && this.#waiting.length === 0) {
      this.#handlersThisTurn++
      this.#turn()
      this.#startHandler(stream)
      return
    }
    this.#waiting.push(stream)
    this.#turn()
  }

  #handlersThisTurn = 0
  #turnScheduled = false
  readonly #waiting: Stream[] = []

  /** Makes sure the per-turn budget resets, and waiting streams get their handlers, on the next turn. */
  #turn(): void {
    if (this.#turnScheduled) return
    this.#turnScheduled = true
    setImmediate(() => {
      this.#turnScheduled = false
      this.#handlersThisTurn = 0
      while (this.#waiting.length > 0 && this.#handlersThisTurn < INBOUND_HANDLERS_PER_TURN) {
        const next = this.#waiting.shift() as Stream
        this.#handlersThisTurn++
        // a stream reset while it waited has nothing left to handle
        if (next.status === 'open') this.#startHandler(next)
      }
      if (this.#waiting.length > 0 || this.#handlersThisTurn > 0) this.#turn()
    })
  }

  #startHandler(stream: Stream): void {
    try {
      this.#init.onStream?.(stream, this)
    } catch (err) {
      this.log.error({ peer: this.remotePeer.toString(), err: messageOf(err) }, 'stream handler threw')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** A stream ended: frees its slot. */
  protected untrack(stream: Stream): void {
    if (!this.#streams.delete(stream)) return
    if (stream.direction === 'inbound') this.#inboundOpen--
    else this.#outboundOpen--
    this.touch()
  }

  /** Traffic or stream activity: the connection is not idle. */
  touch(): void {
    this.#lastActive = Date.now()
  }

  /** The end of the connection, whatever caused it; idempotent. */
  protected finished(err: Error | undefined): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.#closedAt = Date.now()
    clearTimeout(this.#idleTimer)
    this.#init.ticket?.release()
    this.#resolveClosed(err)
    try {
      this.#init.onClose?.(this, err)
    } catch (e) {
      this.log.error({ err: messageOf(e) }, 'onClose handler threw')
    }
  }

  /** Streams still open, for close/abort. */
  protected openStreams(): Stream[] {
    return [...this.#streams]
  }

  #scheduleIdleCheck(): void {
    const idle = this.limits.idleTimeoutMs
    if (idle <= 0) return
    const check = (): void => {
      if (this.status !== 'open') return
      const quiet = Date.now() - this.#lastActive
      if (this.#streams.size === 0 && quiet >= idle) {
        this.log.info({ peer: this.remotePeer.toString(), idleMs: quiet }, 'closing idle connection')
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
