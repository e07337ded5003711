/**
 * The routing link to one neighbour: two control-channel streams, one per direction. We write our updates on the
 * stream we open; the neighbour writes on the one it opens. The link is up once our stream is open (the neighbour
 * speaks the router protocol and accepted us); frames that arrive before are held and replayed.
 *
 * It also keeps the link honest: a ping every `helloIntervalMs` (its pong measures RTT for the `rtt` metric), and
 * a link that hears nothing for `linkTimeoutMs` — a black-holed cable, a wedged peer — is declared down and its
 * connection aborted, so streams relayed across it fail at once instead of hanging. "Hears" counts every byte the
 * connection receives, not only control frames: control frames share the connection with relayed streams, and on a
 * saturated link they wait behind up to a stream window of data (256 KiB to 4 MiB, seconds on a slow link), while
 * the data arriving shows the neighbour is alive.
 */
import type { ChannelContext, Credential } from '@pnet/channel'
import { messages, openChannel } from '@pnet/channel'
import type { Connection, Logger, Stream } from '@pnet/network'
import { ControlDecoder, ControlEncoder } from './control-codec.js'
import { MalformedMessageError } from './errors.js'
import { lengthPrefixed } from './frame-io.js'
import { FrameQueue } from './frame-queue.js'
import { MAX_METRIC, type RouterLimits, type RouterTimers } from './limits.js'
import type { ControlMessage } from './messages.js'
import type { PeerKey } from './peer-key.js'
import { CONTROL_CHANNEL, ROUTER_PROTOCOL_VERSION } from './protocols.js'

export type LinkMetric = 'hops' | 'rtt'

export interface ControlLinkInit {
  peer: PeerKey
  connection: Connection
  metric: LinkMetric
  limits: Readonly<RouterLimits>
  timers: Readonly<RouterTimers>
  credentials?: readonly Credential[]
  logger: Logger
  /** the link is usable; `cost` is its metric */
  onUp(link: ControlLink, cost: number): void
  onMessage(link: ControlLink, message: ControlMessage): void
  /** the measured cost moved enough to matter */
  onCost(link: ControlLink, cost: number): void
  /**
   * once; `permanent` when the neighbour refused the control channel for good (not a router, or not letting us in):
   * do not retry on this connection
   */
  onDown(link: ControlLink, reason: Error, permanent: boolean): void
}

/** Answers from the neighbour's channel registry that will not change on a retry over the same connection. */
const PERMANENT_REFUSALS = new Set(['ERR_NO_SUCH_CHANNEL', 'ERR_UNAUTHORIZED', 'ERR_VERSION_UNSUPPORTED'])

/** Link costs move only when the smoothed RTT changes by this fraction (and at least 1 ms): no flapping routes. */
const COST_HYSTERESIS = 0.25

export class ControlLink {
  readonly peer: PeerKey
  readonly connection: Connection
  state: 'opening' | 'up' | 'down' = 'opening'
  cost = 1
  /** smoothed RTT, ms (RFC 6298 style), once measured */
  srtt: number | undefined
  /** ms timestamp at which the link came up */
  upAt: number | undefined
  readonly stats = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0 }

  readonly #init: ControlLinkInit
  readonly #encoder = new ControlEncoder()
  readonly #decoder = new ControlDecoder()
  readonly #queue = new FrameQueue()
  #outbound: Stream | undefined
  #inbound: Stream | undefined
  #held: ControlMessage[] = []
  #lastHeard = Date.now()
  /** the connection's received byte count at the last hello check */
  #lastBytesIn = 0
  #lastTick = Date.now()
  #hello: NodeJS.Timeout | undefined
  readonly #pings = new Map<number, number>()
  #nonce = Math.floor(Math.random() * 0x7fffffff)

  constructor(init: ControlLinkInit) {
    this.#init = init
    this.peer = init.peer
    this.connection = init.connection
  }

  /** Opens our control stream; the link comes up when the neighbour accepts it. */
  async open(): Promise<void> {
    const started = performance.now()
    let stream: Stream
    try {
      const raw = await this.connection.newStream({ signal: AbortSignal.timeout(this.#init.timers.linkTimeoutMs) })
      const opened = await openChannel(raw, CONTROL_CHANNEL, {
        versions: ROUTER_PROTOCOL_VERSION,
        localPeer: this.connection.localPeer,
        credentials: this.#init.credentials,
        maxMessageSize: this.#init.limits.maxControlFrameBytes,
        timeoutMs: this.#init.timers.linkTimeoutMs,
      })
      stream = opened.stream
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      this.down(error, PERMANENT_REFUSALS.has((err as { code?: string }).code ?? ''))
      return
    }
    if (this.state === 'down') {
      stream.abort(new Error('router link closed while it was opening'))
      return
    }
    this.#outbound = stream
    this.#sample(performance.now() - started)
    stream.sink(this.#queue.source()).catch(err => this.down(asError(err)))
    // the neighbour never writes on our stream: its end means the neighbour dropped the link
    this.#watchEnd(stream)
    this.state = 'up'
    this.upAt = Date.now()
    this.#lastHeard = this.upAt
    this.#lastBytesIn = this.connection.stats.bytesIn
    this.#lastTick = this.upAt
    this.#hello = setInterval(() => this.#sayHello(), this.#init.timers.helloIntervalMs)
    this.#hello.unref()
    this.#init.onUp(this, this.cost)
    const held = this.#held
    this.#held = []
    for (const msg of held) if (this.state === 'up') this.#init.onMessage(this, msg)
  }

  async #watchEnd(stream: Stream): Promise<void> {
    try {
      for await (const _ of stream.source) {
        // ignore: nothing is expected here
      }
      if (this.state !== 'down') this.down(new Error(`${this.peer.text} closed its end of the router link`))
    } catch (err) {
      if (this.state !== 'down') this.down(asError(err))
    }
  }

  /** Reads the neighbour's control stream until it ends; the channel handler awaits this. */
  async attachInbound(stream: Stream, ctx: ChannelContext): Promise<void> {
    if (this.state === 'down') throw new Error('router link is down')
    const previous = this.#inbound
    this.#inbound = stream
    // a second stream from the same neighbour replaces the first (it reconnected, or restarted its side)
    previous?.abort(new Error('replaced by a newer router control stream'))
    const reader = messages(stream, {
      maxMessageSize: this.#init.limits.maxControlFrameBytes,
      channel: CONTROL_CHANNEL,
    })
    try {
      for await (const frame of reader) {
        if (this.#isDown() || ctx.signal.aborted) break
        this.#lastHeard = Date.now()
        this.stats.framesIn++
        this.stats.bytesIn += frame.byteLength
        const msg = this.#decoder.decode(frame)
        if (msg === undefined) continue
        this.#handle(msg)
      }
    } catch (err) {
      if (this.#inbound !== stream) return
      const error = asError(err)
      this.down(error)
      const code = (error as { code?: string }).code
      if (error instanceof MalformedMessageError || code === 'ERR_MESSAGE_TOO_LARGE' || code === 'ERR_PROTOCOL_ERROR') {
        // a neighbour that sends garbage is cut off; the others are not affected
        this.#init.logger.warn({ peer: this.peer.text, err: error.message }, 'router neighbour broke the protocol')
        this.connection.abort(error)
      }
      return
    }
    if (this.#inbound === stream && !this.#isDown()) {
      this.down(new Error(`${this.peer.text} ended its router control stream`))
    }
  }

  #handle(msg: ControlMessage): void {
    if (msg.type === 'ping') {
      this.send({ type: 'pong', nonce: msg.nonce })
      return
    }
    if (msg.type === 'pong') {
      const sent = this.#pings.get(msg.nonce)
      if (sent !== undefined) {
        this.#pings.delete(msg.nonce)
        this.#sample(performance.now() - sent)
      }
      return
    }
    if (this.state === 'up') this.#init.onMessage(this, msg)
    else if (this.#held.length < this.#init.limits.maxEntriesPerUpdate) this.#held.push(msg)
  }

  #isDown(): boolean {
    return this.state === 'down'
  }

  /** Queues a message; drops the link if the neighbour lets too much pile up. */
  send(msg: ControlMessage): void {
    if (this.state === 'down') return
    const frame = this.#encoder.encode(msg)
    if (frame === undefined) return
    this.stats.framesOut++
    this.stats.bytesOut += frame.byteLength
    this.#queue.push(lengthPrefixed(frame))
    if (this.#queue.bytes > this.#init.limits.maxControlQueueBytes) {
      this.down(
        new Error(
          `${this.peer.text} is not reading router updates: ${this.#queue.bytes} bytes queued (limits.maxControlQueueBytes)`,
        ),
      )
    }
  }

  #sayHello(): void {
    if (this.state !== 'up') return
    const now = Date.now()
    // our own stall (a long GC, a starved or suspended process) is not the neighbour's silence
    const late = now - this.#lastTick - this.#init.timers.helloIntervalMs
    this.#lastTick = now
    if (late > this.#init.timers.helloIntervalMs) this.#lastHeard += late
    const bytesIn = this.connection.stats.bytesIn
    if (bytesIn !== this.#lastBytesIn) {
      // frames queued behind relayed data arrive late, but the data itself is the neighbour talking
      this.#lastBytesIn = bytesIn
      this.#lastHeard = Math.max(this.#lastHeard, now)
    }
    const silent = now - this.#lastHeard
    if (silent > this.#init.timers.linkTimeoutMs) {
      const err = new Error(
        `nothing received from ${this.peer.text} for ${silent} ms (timers.linkTimeoutMs ${this.#init.timers.linkTimeoutMs})`,
      )
      this.down(err)
      // the connection is as dead as the link: fail whatever else crosses it now rather than when TCP notices
      this.connection.abort(err)
      return
    }
    this.#nonce = (this.#nonce + 1) >>> 0
    this.#pings.set(this.#nonce, performance.now())
    if (this.#pings.size > 8) this.#pings.delete(this.#pings.keys().next().value as number)
    this.send({ type: 'ping', nonce: this.#nonce })
  }

  #sample(rttMs: number): void {
    this.srtt = this.srtt === undefined ? rttMs : this.srtt * 0.875 + rttMs * 0.125
    if (this.#init.metric !== 'rtt') return
    const cost = Math.max(1, Math.min(MAX_METRIC, Math.round(this.srtt)))
    if (this.state !== 'up') {
      this.cost = cost
      return
    }
    if (Math.abs(cost - this.cost) > Math.max(1, this.cost * COST_HYSTERESIS)) {
      this.cost = cost
      this.#init.onCost(this, cost)
    }
  }

  /** Waits (bounded by `signal`) until everything queued has been handed to the stream. */
  async flush(signal: AbortSignal): Promise<void> {
    if (this.state !== 'up') return
    await Promise.race([
      this.#queue.drained(),
      new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true })),
    ])
  }

  /** Graceful end: what is queued goes out, then our stream closes. */
  async close(signal: AbortSignal): Promise<void> {
    await this.flush(signal)
    this.#queue.end()
    const outbound = this.#outbound
    this.#finish(new Error('router stopped'), false)
    await outbound?.closeWrite({ signal }).catch(() => outbound.abort(new Error('router stopped')))
    this.#inbound?.abort(new Error('router stopped'))
  }

  /** Tears the link down (idempotent). */
  down(reason: Error, permanent = false): void {
    if (this.state === 'down') return
    this.#queue.end(reason)
    this.#outbound?.abort(reason)
    this.#inbound?.abort(reason)
    this.#finish(reason, permanent)
  }

  #finish(reason: Error, permanent: boolean): void {
    if (this.state === 'down') return
    this.state = 'down'
    clearInterval(this.#hello)
    this.#held = []
    this.#init.onDown(this, reason, permanent)
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
