/**
 * Broadcast and multicast along the shortest-path tree the routing tables already describe.
 *
 * The origin splits its target list by next hop and sends one BROADCAST per next hop, naming only the targets
 * below it; every node does the same with the targets it was given (delivering locally when it is one), so each
 * node sends at most one copy per child and no link carries the same message twice. Each child answers with a
 * REPORT that accounts for every target it was given — delivered, or why not — so the origin learns the fate of
 * every single target: reached, unreachable (no route), refused, timed out, or failed in its handler. Before its
 * REPORT a child streams up the REPLY frames its targets' handlers sent, so answers flow back along the same tree
 * (no target needs a route to the origin) with backpressure at every hop. Message IDs
 * suppress duplicate deliveries when routes shift mid-flight; a hop limit bounds any transient loop; deadlines
 * shrink at each hop so reports make it back before the origin gives up.
 */
import { randomBytes } from 'node:crypto'
import type { AuthPolicy, ChannelContext, ChannelRegistry, Credential } from '@pnet/channel'
import { openChannel } from '@pnet/channel'
import type { AbortOptions, Connection, Logger, PeerId, Stream } from '@pnet/network'
import {
  answerKind,
  BROADCAST_REPLY,
  type BroadcastFailureCode,
  type BroadcastFrame,
  type BroadcastOutcome,
  decodeBroadcast,
  decodeReply,
  decodeReport,
  encodeBroadcast,
  encodeReply,
  encodeReport,
  MAX_BROADCAST_CHANNEL_BYTES,
  maxBroadcastFrameBytes,
  maxReplyFrameBytes,
  maxReportFrameBytes,
  type ReportEntry,
} from './broadcast-codec.js'
import { RouterLimitError, RouterStoppedError } from './errors.js'
import { FrameReader, lengthPrefixed, raceAbort, readFrame } from './frame-io.js'
import { FrameQueue } from './frame-queue.js'
import type { RouterLimits, RouterTimers } from './limits.js'
import { type PeerKey, peerKeyOf } from './peer-key.js'
import { BROADCAST_CHANNEL, ROUTER_PROTOCOL_VERSION } from './protocols.js'

/** A broadcast as its handler sees it. */
export interface BroadcastMessage {
  /** 32 hex digits, the same at every target */
  readonly id: string
  readonly origin: PeerId
  readonly channel: string
  readonly payload: Uint8Array
  /** links it crossed to get here */
  readonly hops: number
  /**
   * Sends `payload` (≤ limits.maxBroadcastReplyBytes) back to the origin along the tree the broadcast came down;
   * resolves when the link towards the origin has taken it (backpressure). Only while the handler runs. Relays
   * carry replies unchanged but could alter them: sign what must be authentic.
   */
  reply(payload: Uint8Array): Promise<void>
  /**
   * Fires when nothing more can reach the origin: the link the broadcast came in on failed (a relay or the origin
   * went away), the origin's own signal fired, or the deadline passed. A handler that only makes sense while
   * someone listens (e.g. receiving a file) stops here; one that must finish anyway (a command) ignores it.
   */
  readonly signal: AbortSignal
}

/**
 * Runs once per broadcast at each target. The target counts as reached when it returns (or its promise resolves)
 * before the deadline; a throw is reported to the origin as HANDLER_FAILED with the error's message. Replies sent
 * with `message.reply` reach the origin before the target's outcome does.
 */
export type BroadcastHandler = (message: BroadcastMessage) => void | Promise<void>

export interface BroadcastOptions extends AbortOptions {
  /** who should get it; default every destination in the routing table (not ourselves) */
  targets?: readonly PeerId[]
  /** ms until unanswered targets are reported as TIMEOUT (default timers.broadcastTimeoutMs) */
  timeoutMs?: number
  /**
   * Gets every reply a target's handler sends, in the order that target sent them, before its outcome is known.
   * A returned promise holds further replies back until it settles; a throw is logged and the broadcast goes on.
   */
  onReply?: (from: PeerId, payload: Uint8Array) => void | Promise<void>
}

export interface BroadcastFailure {
  readonly peer: PeerId
  readonly code: BroadcastFailureCode
  readonly reason: string
}

/** Every target, accounted for: either in `delivered` or in `failed` with a reason. */
export interface BroadcastReport {
  readonly id: string
  readonly delivered: PeerId[]
  readonly failed: BroadcastFailure[]
  readonly elapsedMs: number
}

export interface BroadcastStats {
  /** broadcasts we started */
  originated: number
  /** copies received from a parent */
  received: number
  /** copies sent to children (one stream each) */
  forwarded: number
  /** local handler runs */
  delivered: number
  /** copies whose local delivery had already happened (same ID) */
  duplicates: number
  /** replies sent by local handlers or passed up from children */
  replies: number
}

export interface BroadcastContext {
  readonly self: PeerKey
  readonly registry: ChannelRegistry
  readonly localPeer: PeerId
  readonly limits: Readonly<RouterLimits>
  readonly timers: Readonly<RouterTimers>
  readonly logger: Logger
  readonly auth?: AuthPolicy
  readonly credentials?: readonly Credential[]
  route(dest: PeerKey): { nextHop: PeerKey } | undefined
  directConnection(peer: PeerKey): Connection | undefined
  reachable(): PeerKey[]
}

interface Outcome {
  outcome: BroadcastOutcome
  reason: string
}

/** Where replies for the target at `index` (of the list being processed) go. */
type ReplySink = (index: number, payload: Uint8Array) => Promise<void>

type Message = Omit<BroadcastFrame, 'targets'>

export class BroadcastService {
  readonly stats: BroadcastStats = {
    originated: 0,
    received: 0,
    forwarded: 0,
    delivered: 0,
    duplicates: 0,
    replies: 0,
  }
  readonly #ctx: BroadcastContext
  readonly #handlers = new Map<string, BroadcastHandler>()
  /** local outcome by message ID, in arrival order (oldest first) for eviction */
  readonly #seen = new Map<string, { at: number; outcome: Promise<Outcome> }>()
  #stopped = false

  constructor(ctx: BroadcastContext) {
    this.#ctx = ctx
    ctx.registry.handle(BROADCAST_CHANNEL, (stream, chCtx) => this.#accept(stream, chCtx), {
      versions: ROUTER_PROTOCOL_VERSION,
      auth: ctx.auth,
      maxConcurrent: ctx.limits.maxConcurrentBroadcasts,
    })
  }

  handle(channel: string, handler: BroadcastHandler): void {
    checkChannel(channel)
    if (typeof handler !== 'function') throw new TypeError(`broadcast handler for ${channel} must be a function`)
    this.#handlers.set(channel, handler)
  }

  unhandle(channel: string): boolean {
    return this.#handlers.delete(channel)
  }

  async broadcast(channel: string, payload: Uint8Array, options: BroadcastOptions = {}): Promise<BroadcastReport> {
    if (this.#stopped) throw new RouterStoppedError('broadcast')
    checkChannel(channel)
    const { limits, timers, self } = this.#ctx
    if (payload.byteLength > limits.maxBroadcastBytes) {
      throw new RouterLimitError(
        'maxBroadcastBytes',
        `broadcast payload of ${payload.byteLength} bytes is over ${limits.maxBroadcastBytes}`,
      )
    }
    const targets = dedupe(options.targets?.map(p => peerKeyOf(p)) ?? this.#ctx.reachable())
    if (targets.length > limits.maxBroadcastTargets) {
      throw new RouterLimitError(
        'maxBroadcastTargets',
        `broadcast to ${targets.length} targets is over ${limits.maxBroadcastTargets}`,
      )
    }
    const timeoutMs = options.timeoutMs ?? timers.broadcastTimeoutMs
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 0xffffffff) {
      throw new RangeError(`timeoutMs must be an integer from 1 to 2^32-1, got ${String(timeoutMs)}`)
    }
    const started = Date.now()
    const msg: Message = {
      id: new Uint8Array(randomBytes(16)),
      origin: self,
      channel,
      hopLimit: limits.maxRelayHops,
      hops: 0,
      deadlineMs: timeoutMs,
      payload,
    }
    this.stats.originated++
    const onReply = options.onReply
    const sink: ReplySink = async (index, reply) => {
      const from = targets[index]
      if (onReply === undefined || from === undefined) return
      try {
        await onReply(from.peerId, reply)
      } catch (err) {
        this.#ctx.logger.warn({ from: from.text, err: String(err) }, 'broadcast onReply threw')
      }
    }
    const upstream = options.signal ?? new AbortController().signal
    const outcomes = await raceAbort(
      this.#process(msg, targets, undefined, started + timeoutMs, sink, upstream),
      options.signal,
    )
    const delivered: PeerId[] = []
    const failed: BroadcastFailure[] = []
    targets.forEach((t, i) => {
      const o = outcomes[i] ?? { outcome: 'TIMEOUT', reason: 'not accounted for' }
      if (o.outcome === 'DELIVERED') delivered.push(t.peerId)
      else failed.push({ peer: t.peerId, code: o.outcome, reason: o.reason })
    })
    return { id: hex(msg.id), delivered, failed, elapsedMs: Date.now() - started }
  }

  stop(): void {
    this.#stopped = true
    this.#ctx.registry.unhandle(BROADCAST_CHANNEL)
  }

  /** Delivers locally and forwards to children; resolves with one outcome per target. */
  async #process(
    msg: Message,
    targets: PeerKey[],
    previous: PeerKey | undefined,
    deadline: number,
    sink: ReplySink,
    upstream: AbortSignal,
  ): Promise<Outcome[]> {
    const { self } = this.#ctx
    const outcomes: Outcome[] = new Array(targets.length)
    const local: number[] = []
    const groups = new Map<string, { hop: PeerKey; conn: Connection; indices: number[] }>()
    targets.forEach((t, i) => {
      if (t.key === self.key) {
        local.push(i)
        return
      }
      if (msg.hopLimit <= 1) {
        outcomes[i] = { outcome: 'HOP_LIMIT', reason: `hop limit reached at ${self.text}` }
        return
      }
      let hop = t
      let conn = this.#ctx.directConnection(t)
      if (conn === undefined) {
        const route = this.#ctx.route(t)
        if (route === undefined) {
          outcomes[i] = { outcome: 'NO_ROUTE', reason: `${self.text} has no route to it` }
          return
        }
        hop = route.nextHop
        if (previous !== undefined && hop.key === previous.key) {
          outcomes[i] = { outcome: 'LOOP', reason: `${self.text} would send it back to ${previous.text}` }
          return
        }
        conn = this.#ctx.directConnection(hop)
        if (conn === undefined) {
          outcomes[i] = { outcome: 'NO_ROUTE', reason: `next hop ${hop.text} of ${self.text} is not connected` }
          return
        }
      }
      let group = groups.get(hop.key)
      if (group === undefined) {
        group = { hop, conn, indices: [] }
        groups.set(hop.key, group)
      }
      group.indices.push(i)
    })
    const tasks: Promise<void>[] = []
    if (local.length > 0) {
      const at = local[0] as number
      tasks.push(
        this.#deliver(msg, deadline, payload => sink(at, payload), upstream).then(o => {
          for (const i of local) outcomes[i] = o
        }),
      )
    }
    for (const group of groups.values()) {
      tasks.push(
        this.#toChild(
          msg,
          group.conn,
          group.hop,
          group.indices.map(i => targets[i] as PeerKey),
          deadline,
          (k, payload) => sink(group.indices[k] as number, payload),
        ).then(results => {
          group.indices.forEach((i, k) => {
            outcomes[i] = results[k] ?? { outcome: 'LINK_FAILED', reason: `${group.hop.text} did not account for it` }
          })
        }),
      )
    }
    await Promise.all(tasks)
    return outcomes
  }

  /** One copy to one child; resolves with an outcome per target given (never rejects). */
  async #toChild(
    msg: Message,
    conn: Connection,
    hop: PeerKey,
    targets: PeerKey[],
    deadline: number,
    sink: ReplySink,
  ): Promise<Outcome[]> {
    const remaining = deadline - Date.now()
    const childMs = remaining - this.#ctx.timers.broadcastHopMarginMs
    const all = (outcome: BroadcastOutcome, reason: string): Outcome[] => targets.map(() => ({ outcome, reason }))
    if (childMs <= 0) return all('TIMEOUT', `no time left to forward from ${this.#ctx.self.text}`)
    const signal = AbortSignal.timeout(remaining)
    let stream: Stream | undefined
    try {
      const frame = encodeBroadcast({
        ...msg,
        hopLimit: msg.hopLimit - 1,
        hops: msg.hops + 1,
        deadlineMs: Math.floor(childMs),
        targets,
      })
      const raw = await conn.newStream({ signal })
      const opened = await openChannel(raw, BROADCAST_CHANNEL, {
        versions: ROUTER_PROTOCOL_VERSION,
        localPeer: this.#ctx.localPeer,
        credentials: this.#ctx.credentials,
        signal,
        earlyData: lengthPrefixed(frame),
      })
      stream = opened.stream
      this.stats.forwarded++
      const closed = stream.closeWrite({ signal }).catch(() => {})
      const frames = new FrameReader(stream.source)
      const { maxBroadcastReplyBytes } = this.#ctx.limits
      const max = Math.max(maxReportFrameBytes(targets.length), maxReplyFrameBytes(maxBroadcastReplyBytes))
      let report: Uint8Array | undefined
      while (true) {
        const frame = await frames.next(max, 'broadcast answer', signal)
        if (frame === undefined || answerKind(frame) !== BROADCAST_REPLY) {
          report = frame
          break
        }
        const reply = decodeReply(frame, targets.length, maxBroadcastReplyBytes)
        this.stats.replies++
        await raceAbort(sink(reply.index, reply.payload), signal)
      }
      await closed
      if (report === undefined) return all('LINK_FAILED', `${hop.text} closed the stream without a report`)
      if (report.byteLength > maxReportFrameBytes(targets.length)) {
        return all(
          'LINK_FAILED',
          `${hop.text} sent a report of ${report.byteLength} bytes for ${targets.length} targets`,
        )
      }
      const out: Outcome[] = new Array(targets.length)
      for (const e of decodeReport(report, targets.length)) out[e.index] = { outcome: e.outcome, reason: e.reason }
      await stream.close({ signal }).catch(() => {})
      return out
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) return all('TIMEOUT', `no report from ${hop.text} within ${Math.round(remaining)} ms`)
      const code = (err as { code?: string }).code
      const reason = err instanceof Error ? err.message : String(err)
      if (code === 'ERR_OVERLOADED') return all('REFUSED', reason)
      return all('LINK_FAILED', reason)
    }
  }

  /** Local delivery, at most once per message ID. */
  #deliver(
    msg: Message,
    deadline: number,
    reply: (payload: Uint8Array) => Promise<void>,
    upstream: AbortSignal,
  ): Promise<Outcome> {
    const id = hex(msg.id)
    const seen = this.#seen.get(id)
    if (seen !== undefined) {
      this.stats.duplicates++
      return seen.outcome
    }
    const outcome = this.#run(msg, id, deadline, reply, upstream)
    this.#remember(id, outcome)
    return outcome
  }

  async #run(
    msg: Message,
    id: string,
    deadline: number,
    send: (payload: Uint8Array) => Promise<void>,
    upstream: AbortSignal,
  ): Promise<Outcome> {
    const handler = this.#handlers.get(msg.channel)
    if (handler === undefined) {
      return { outcome: 'NO_HANDLER', reason: `no handler for broadcast channel ${msg.channel}` }
    }
    this.stats.delivered++
    const timeout = AbortSignal.timeout(Math.max(0, deadline - Date.now()))
    const { maxBroadcastReplyBytes } = this.#ctx.limits
    let answered = false
    try {
      const message: BroadcastMessage = {
        id,
        origin: msg.origin.peerId,
        channel: msg.channel,
        payload: msg.payload,
        hops: msg.hops,
        signal: AbortSignal.any([upstream, timeout]),
        reply: async payload => {
          if (answered) throw new Error(`broadcast ${id} is already answered: reply only while the handler runs`)
          if (!(payload instanceof Uint8Array)) throw new TypeError('a broadcast reply must be a Uint8Array')
          if (payload.byteLength > maxBroadcastReplyBytes) {
            throw new RouterLimitError(
              'maxBroadcastReplyBytes',
              `broadcast reply of ${payload.byteLength} bytes is over ${maxBroadcastReplyBytes}`,
            )
          }
          this.stats.replies++
          await raceAbort(send(payload), timeout)
        },
      }
      await raceAbort(Promise.resolve(handler(message)), timeout)
      answered = true
      return { outcome: 'DELIVERED', reason: '' }
    } catch (err) {
      answered = true
      if (timeout.aborted) return { outcome: 'TIMEOUT', reason: 'the handler did not finish before the deadline' }
      return { outcome: 'HANDLER_FAILED', reason: err instanceof Error ? err.message : String(err) }
    }
  }

  #remember(id: string, outcome: Promise<Outcome>): void {
    const now = Date.now()
    this.#seen.set(id, { at: now, outcome })
    const { broadcastSeenCacheSize } = this.#ctx.limits
    for (const [key, entry] of this.#seen) {
      if (this.#seen.size <= broadcastSeenCacheSize && now - entry.at < this.#ctx.timers.broadcastSeenMs) break
      this.#seen.delete(key)
    }
  }

  async #accept(stream: Stream, chCtx: ChannelContext): Promise<void> {
    const { limits } = this.#ctx
    const { frame } = await readFrame(
      stream.source,
      maxBroadcastFrameBytes(limits.maxBroadcastTargets, limits.maxBroadcastBytes),
      'broadcast message',
      AbortSignal.any([chCtx.signal, AbortSignal.timeout(this.#ctx.timers.relayHandshakeTimeoutMs)]),
    )
    if (frame === undefined) return
    const msg = decodeBroadcast(frame, limits.maxBroadcastTargets, limits.maxBroadcastBytes)
    this.stats.received++
    const deadline = Date.now() + msg.deadlineMs
    // replies and then the report go up one queue: the parent reads at its pace, and past the high-water mark we
    // stop reading our children (their sink awaits) rather than buffer without bound
    const queue = new FrameQueue()
    const sinking = stream.sink(queue.source())
    sinking.catch(err => queue.end(err instanceof Error ? err : new Error(String(err))))
    const high = limits.broadcastReplyQueueBytes
    const sink: ReplySink = async (index, payload) => {
      queue.push(lengthPrefixed(encodeReply({ index, payload })))
      if (queue.bytes > high) await queue.drained()
    }
    const outcomes = this.#stopped
      ? msg.targets.map(() => ({ outcome: 'REFUSED' as const, reason: `${this.#ctx.self.text} is leaving` }))
      : await this.#process(msg, msg.targets, peerKeyOf(chCtx.remotePeer), deadline, sink, chCtx.signal)
    const entries: ReportEntry[] = outcomes.map((o, index) => ({ index, outcome: o.outcome, reason: o.reason }))
    queue.push(lengthPrefixed(encodeReport(entries)))
    queue.end()
    await sinking
  }
}

function checkChannel(channel: string): void {
  const size = typeof channel === 'string' ? new TextEncoder().encode(channel).byteLength : 0
  if (size < 1 || size > MAX_BROADCAST_CHANNEL_BYTES) {
    throw new TypeError(
      `broadcast channel must be 1..${MAX_BROADCAST_CHANNEL_BYTES} bytes of text, got ${String(channel)}`,
    )
  }
}

function dedupe(keys: PeerKey[]): PeerKey[] {
  const seen = new Set<string>()
  return keys.filter(k => {
    if (seen.has(k.key)) return false
    seen.add(k.key)
    return true
  })
}

function hex(id: Uint8Array): string {
  return Buffer.from(id).toString('hex')
}
