/**
 * A yamux session over a Noise channel over a RawIO: our Connection for byte-stream transports.
 *
 * Wire-compatible with @chainsafe/libp2p-yamux and go-yamux (interop tests), written for our stream model: payload
 * pieces go from the decrypted buffer to the reader without joins, window credit follows the reader, writes from all
 * streams are coalesced into full Noise messages, and a peer that breaks the protocol (unknown frame type, a frame
 * larger than its window, an overrun window, odd/even stream ID abuse) is cut off with a ProtocolViolationError.
 */
import { ConnectionBase, type ConnectionBaseInit } from '../connection-base.js'
import { ConnectionClosedError, messageOf, ProtocolViolationError, withoutStack } from '../errors.js'
import type { AbortOptions, Stream } from '../interface.js'
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  FRAMES_PER_TURN,
  MAX_STREAM_WINDOW_BYTES,
  STREAM_CHANGES_PER_TURN,
} from '../limits.js'
import { logThrottled } from '../logger.js'
import type { NoiseChannel } from '../noise-channel.js'
import type { RawIO } from '../raw-io.js'
import { encodeHeader, Flag, FrameDecoder, GoAwayCode, type Header, Type } from './frame.js'
import { type StreamSession, YamuxStream } from './stream.js'

/** How often an idle-looking session pings the remote (keeps NATs open, measures RTT). */
export const KEEPALIVE_INTERVAL_MS = 30_000

export interface YamuxSessionInit extends ConnectionBaseInit {
  io: RawIO
  channel: NoiseChannel
}

/**
 * Event-loop turns, counted while any session decodes (one setImmediate per turn at most, none when idle): a session
 * resets its per-turn frame budget when the count moves.
 */
let turn = 0
let turnCounting = false
function currentTurn(): number {
  if (!turnCounting) {
    turnCounting = true
    setImmediate(() => {
      turn++
      turnCounting = false
    })
  }
  return turn
}

export class YamuxSession extends ConnectionBase implements StreamSession {
  readonly maxWindow = MAX_STREAM_WINDOW_BYTES
  readonly #io: RawIO
  readonly #channel: NoiseChannel
  readonly #decoder: FrameDecoder
  readonly #byId = new Map<number, YamuxStream>()
  #nextId: number
  #rtt = 1
  #measured = false
  #pingSentAt = 0
  #pingId = 0
  #keepalive: NodeJS.Timeout | undefined
  #drainWaiters: (() => void)[] = []
  #remoteGoAway = false
  #pendingFlags = 0
  /** decrypted bytes waiting for the next turn (this turn's frame budget is spent; the pipe is paused meanwhile) */
  #backlog: Uint8Array[] = []
  #turn = -1
  #frames = 0
  #streamChanges = 0
  #yielding = false
  #resumeScheduled = false
  #muted = false

  constructor(init: YamuxSessionInit) {
    super(init)
    this.#io = init.io
    this.#channel = init.channel
    this.#nextId = init.direction === 'outbound' ? 1 : 2 // the dialer is the yamux client: odd IDs
    this.#decoder = new FrameDecoder(
      {
        header: h => this.#onHeader(h),
        data: (id, piece, last) => this.#onData(id, piece, last),
        stop: () => this.#yielding || this.#muted,
      },
      init.remotePeer.toString(),
      this.maxWindow,
    )
  }

  /** Feeds decrypted bytes. */
  onPlaintext(pieces: Uint8Array[]): void {
    if (this.#muted) return
    if (this.#backlog.length > 0) {
      for (const p of pieces) this.#backlog.push(p)
      return
    }
    this.#decode(pieces)
  }

  /** Decodes until the pieces are used up or this turn's budget is spent (then the rest waits for the next turn). */
  #decode(pieces: Uint8Array[]): void {
    try {
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i]!
        const used = this.#decoder.push(piece)
        if (this.#muted) return // muted by a frame's handler: the rest is not looked at
        if (!this.#yielding) continue
        const rest = used < piece.byteLength ? [piece.subarray(used)] : []
        for (let j = i + 1; j < pieces.length; j++) rest.push(pieces[j]!)
        if (rest.length === 0) {
          // the budget ran out on the last frame of what we had: nothing waits, the pipe stays open
          this.#yielding = false
          return
        }
        this.#backlog = rest
        this.#io.pause()
        this.#nextTurn()
        return
      }
    } catch (err) {
      this.#violation(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #nextTurn(): void {
    if (this.#resumeScheduled) return
    this.#resumeScheduled = true
    setImmediate(() => {
      this.#resumeScheduled = false
      this.#yielding = false
      const pieces = this.#backlog
      this.#backlog = []
      if (this.status === 'closed' || this.#muted) return
      this.#decode(pieces)
      if (this.#backlog.length === 0 && (this.status as string) !== 'closed' && !this.#muted) this.#io.resume()
    })
  }

  /** Counts a decoded frame against this turn's budget; when it is spent, decoding stops for now (`#yielding`). */
  #spend(streamChange: boolean): void {
    const now = currentTurn()
    if (now !== this.#turn) {
      this.#turn = now
      this.#frames = 0
      this.#streamChanges = 0
    }
    this.#frames++
    if (streamChange) this.#streamChanges++
    if (this.#frames >= FRAMES_PER_TURN || this.#streamChanges >= STREAM_CHANGES_PER_TURN) this.#yielding = true
  }

  /** The raw pipe drained: writers may continue. */
  onDrain(): void {
    this.#channel.writable = true
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  start(): void {
    this.#ping()
    this.#keepalive = setInterval(() => this.#ping(), KEEPALIVE_INTERVAL_MS)
    this.#keepalive.unref()
  }

  protected wireBytes(): { bytesIn: number; bytesOut: number } {
    return { bytesIn: this.#io.bytesIn, bytesOut: this.#io.bytesOut }
  }

  // ---- StreamSession

  rtt(): number {
    return Math.max(1, this.#rtt)
  }

  override get rttMs(): number | undefined {
    return this.#measured ? this.#rtt : undefined
  }

  sendFrame(type: number, flags: number, streamId: number, length: number, payload?: Uint8Array): void {
    if (this.status === 'closed') return
    this.#channel.write(encodeHeader(type, flags, streamId, length))
    if (payload !== undefined) this.#channel.write(payload)
  }

  writable(): Promise<void> | undefined {
    if (this.#channel.writable) return undefined
    return new Promise(resolve => this.#drainWaiters.push(resolve))
  }

  streamEnded(stream: YamuxStream): void {
    this.#byId.delete(stream.streamId)
    this.untrack(stream)
    if (this.#remoteGoAway && this.#byId.size === 0 && this.status === 'open') void this.close()
  }

  // ---- Connection

  async newStream(options?: AbortOptions): Promise<Stream> {
    this.checkOutbound(options)
    if (this.#remoteGoAway) throw new ConnectionClosedError(this.remotePeer.toString(), 'the remote is going away')
    const id = this.#nextId
    this.#nextId += 2
    const stream = new YamuxStream(this, id, 'outbound', this.id)
    this.#byId.set(id, stream)
    this.track(stream)
    this.sendFrame(Type.WindowUpdate, Flag.SYN, id, 0)
    return stream
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') {
      await this.closed
      return
    }
    this.status = 'closing'
    // our side of every stream ends; the remote finishes its side; then GoAway and the pipe closes
    for (const s of this.openStreams()) void s.closeWrite().catch(() => {})
    let timer: NodeJS.Timeout | undefined
    let poll: NodeJS.Timeout | undefined
    const outcome = await new Promise<'done' | 'deadline'>(resolve => {
      const signal = options?.signal
      // a timer of our own (not unref'd), so close() settles even when nothing else keeps the process alive
      if (signal === undefined) timer = setTimeout(() => resolve('deadline'), DEFAULT_CLOSE_TIMEOUT_MS)
      else if (signal.aborted) resolve('deadline')
      else signal.addEventListener('abort', () => resolve('deadline'), { once: true })
      const check = (): void => {
        if (this.#byId.size === 0 || this.status === 'closed') resolve('done')
        else poll = setTimeout(check, 10)
      }
      check()
    })
    clearTimeout(timer)
    clearTimeout(poll)
    if (outcome === 'deadline') {
      this.abort(new ConnectionClosedError(this.remotePeer.toString(), 'graceful close cut short: streams still open'))
      return
    }
    if ((this.status as string) === 'closed') return // the remote ended it while we waited
    this.sendFrame(Type.GoAway, 0, 0, GoAwayCode.Normal)
    this.#channel.flush()
    this.#shutdown(undefined)
    this.#io.end()
  }

  mute(reason: Error): void {
    if (this.status === 'closed' || this.#muted) return
    this.#muted = true
    this.#backlog = []
    this.#io.pause()
    this.log.debug({ peer: this.remotePeer.toString(), reason: reason.message }, 'connection muted')
  }

  abort(err: Error): void {
    if (this.status === 'closed') return
    this.log.debug({ peer: this.remotePeer.toString(), reason: err.message }, 'connection aborted')
    this.#shutdown(err)
    this.#io.destroy(err)
  }

  /** The raw pipe ended or failed under us. */
  onTransportEnd(err: Error | undefined): void {
    if (this.status === 'closed') return
    this.#shutdown(err ?? new ConnectionClosedError(this.remotePeer.toString(), 'closed by the remote'))
  }

  #shutdown(err: Error | undefined): void {
    clearInterval(this.#keepalive)
    this.#backlog = []
    const reason = err ?? new ConnectionClosedError(this.remotePeer.toString())
    for (const s of [...this.#byId.values()]) s.connectionLost(reason)
    this.#byId.clear()
    for (const w of this.#drainWaiters) w()
    this.#drainWaiters = []
    this.finished(err)
  }

  #violation(err: Error): void {
    const error =
      err instanceof ProtocolViolationError
        ? err
        : new ProtocolViolationError(this.remotePeer.toString(), messageOf(err))
    logThrottled(this.log, 'warn', { peer: this.remotePeer.toString(), reason: error.message }, 'peer cut off')
    if (this.status !== 'closed') {
      this.sendFrame(Type.GoAway, 0, 0, GoAwayCode.ProtocolError)
      this.#channel.flush()
    }
    this.abort(error)
  }

  #ping(): void {
    if (this.status !== 'open') return
    this.#pingId = (this.#pingId + 1) >>> 0
    this.#pingSentAt = performance.now()
    this.sendFrame(Type.Ping, Flag.SYN, 0, this.#pingId)
  }

  // ---- incoming frames

  #onHeader(h: Header): void {
    if (this.#muted) return
    this.touch()
    if (h.streamId === 0) {
      this.#sessionFrame(h)
      this.#spend(false)
      return
    }
    if (h.type !== Type.Data && h.type !== Type.WindowUpdate) {
      throw withoutStack(
        () =>
          new ProtocolViolationError(this.remotePeer.toString(), `yamux frame type ${h.type} on stream ${h.streamId}`),
      )
    }
    let stream = this.#byId.get(h.streamId)
    const opens = (h.flags & Flag.SYN) !== 0 && stream === undefined
    if (opens) stream = this.#openInbound(h.streamId)
    if (stream === undefined) {
      // a frame for a stream we already closed or refused: its data is dropped
      this.#spend(opens)
      return
    }
    if (h.type === Type.Data && h.length > 0 && !stream.reserve(h.length)) {
      throw withoutStack(
        () =>
          new ProtocolViolationError(
            this.remotePeer.toString(),
            `stream ${h.streamId} sent ${h.length} bytes past its receive window`,
          ),
      )
    }
    if (h.type === Type.WindowUpdate && h.length > 0) stream.windowUpdate(h.length)
    // flags of a DATA frame apply after its payload
    const resets = (h.flags & Flag.RST) !== 0
    if (h.type === Type.Data && h.length > 0) this.#pendingFlags = h.flags
    else this.#applyFlags(stream, h.flags)
    this.#spend(opens || resets)
  }

  #onData(streamId: number, piece: Uint8Array, last: boolean): void {
    const stream = this.#byId.get(streamId)
    if (stream === undefined) return
    stream.receive(piece)
    if (last) {
      const flags = this.#pendingFlags
      this.#pendingFlags = 0
      this.#applyFlags(stream, flags)
    }
  }

  #applyFlags(stream: YamuxStream, flags: number): void {
    if ((flags & Flag.RST) !== 0) stream.remoteReset()
    else if ((flags & Flag.FIN) !== 0) stream.remoteFin()
  }

  #openInbound(id: number): YamuxStream | undefined {
    const remoteIsClient = this.direction === 'inbound'
    if ((id % 2 === 1) !== remoteIsClient) {
      throw new ProtocolViolationError(
        this.remotePeer.toString(),
        `stream ID ${id} has the wrong parity for its opener`,
      )
    }
    if (this.status !== 'open' || !this.admitInbound()) {
      this.sendFrame(Type.WindowUpdate, Flag.RST, id, 0)
      return undefined
    }
    const stream = new YamuxStream(this, id, 'inbound', this.id)
    this.#byId.set(id, stream)
    this.sendFrame(Type.WindowUpdate, Flag.ACK, id, 0)
    this.track(stream)
    return this.#byId.get(id)
  }

  #sessionFrame(h: Header): void {
    if (h.type === Type.Ping) {
      if ((h.flags & Flag.SYN) !== 0) this.sendFrame(Type.Ping, Flag.ACK, 0, h.length)
      else if ((h.flags & Flag.ACK) !== 0 && h.length === this.#pingId) {
        this.#rtt = performance.now() - this.#pingSentAt
        this.#measured = true
      }
      return
    }
    if (h.type === Type.GoAway) {
      if (h.length !== GoAwayCode.Normal) {
        this.abort(new ConnectionClosedError(this.remotePeer.toString(), `the remote sent GoAway (code ${h.length})`))
        return
      }
      this.#remoteGoAway = true
      if (this.#byId.size === 0) void this.close()
      return
    }
    throw new ProtocolViolationError(this.remotePeer.toString(), `yamux frame type ${h.type} on the session stream`)
  }
}
