/**
 * Relayed connections: a connection to a peer that is not a neighbour, carried hop by hop over relay-channel
 * streams and secured end to end.
 *
 * The source opens a relay stream to its next hop and sends OPEN (source, destination, hop limit). Each relay checks
 * its limits and its route, opens a relay stream to its own next hop, passes OPEN on with the hop limit decremented,
 * and from then on copies bytes both ways without reading them (backpressure passes through: it only reads what the
 * next stream can take). The destination answers STATUS OK; a node that cannot go on answers a refusal instead. Then
 * the two ends run the same upgrade as a direct TCP connection — multistream-select, Noise XX with the libp2p
 * identity payload, yamux — over the relayed bytes. Relays can neither read nor forge what passes (Noise), and the
 * far peer ID is authenticated exactly as on a direct connection. The result is an ordinary Connection; streams
 * opened on it are negotiated with the channel registry like any other, and it is reused for later streams.
 *
 * The source does not wait for STATUS before starting Noise: the handshake's first bytes follow OPEN, saving a round
 * trip; a relay that refuses discards them.
 */

import { multiaddr } from '@multiformats/multiaddr'
import type { AuthPolicy, ChannelContext, ChannelRegistry, Credential } from '@pnet/channel'
import { openChannel } from '@pnet/channel'
import type { Connection, Logger, Network, RawConnection, Stream, Upgrader } from '@pnet/network'
import {
  MalformedMessageError,
  NoRouteError,
  RelayBrokenError,
  type RelayRefusal,
  RelayRefusedError,
  RouterStoppedError,
} from './errors.js'
import { lengthPrefixed, raceAbort, readFrame } from './frame-io.js'
import type { RouterLimits, RouterTimers } from './limits.js'
import { type PeerKey, peerKeyOf } from './peer-key.js'
import { RELAY_CHANNEL, ROUTER_PROTOCOL_VERSION } from './protocols.js'
import {
  decodeRelayOpen,
  decodeRelayStatus,
  encodeRelayOpen,
  encodeRelayStatus,
  MAX_RELAY_FRAME_BYTES,
  type RelayOpen,
} from './relay-codec.js'

/** What the relay service needs from the router. */
export interface RelayContext {
  readonly self: PeerKey
  readonly network: Network
  readonly registry: ChannelRegistry
  readonly upgrader: Upgrader
  readonly limits: Readonly<RouterLimits>
  readonly timers: Readonly<RouterTimers>
  readonly logger: Logger
  readonly auth?: AuthPolicy
  readonly credentials?: readonly Credential[]
  /** next hop towards `dest` and the hops of the route, or undefined */
  route(dest: PeerKey): { nextHop: PeerKey; hops: number } | undefined
  /** an open direct connection to `peer`, if any */
  directConnection(peer: PeerKey): Connection | undefined
}

export interface RelayStats {
  /** relayed connections we dialed (each opened one relay stream to a neighbour) */
  dialed: number
  /** relay streams passed on to a next hop */
  forwarded: number
  /** relayed connections that ended here */
  terminated: number
  /** refusals we sent, by reason */
  refused: Partial<Record<RelayRefusal, number>>
  /** streams being relayed through us now */
  active: number
  /** relayed connections open now (ours and those ending here) */
  connections: number
}

export class RelayService {
  readonly stats: RelayStats = { dialed: 0, forwarded: 0, terminated: 0, refused: {}, active: 0, connections: 0 }
  readonly #ctx: RelayContext
  readonly #connections = new Map<string, Connection>()
  readonly #dialing = new Map<string, Promise<Connection>>()
  readonly #perPeer = new Map<string, number>()
  readonly #streams = new Set<Stream>()
  #terminating = 0
  #stopped = false

  constructor(ctx: RelayContext) {
    this.#ctx = ctx
    ctx.registry.handle(RELAY_CHANNEL, (stream, chCtx) => this.#accept(stream, chCtx), {
      versions: ROUTER_PROTOCOL_VERSION,
      auth: ctx.auth,
      maxConcurrent: ctx.limits.maxRelayedStreams + ctx.limits.maxRelayedConnections + 16,
    })
  }

  /** An open relayed connection to `dest`, reused or dialed. */
  connect(dest: PeerKey, signal?: AbortSignal): Promise<Connection> {
    if (this.#stopped) return Promise.reject(new RouterStoppedError(`relayed connection to ${dest.text}`))
    const existing = this.#connections.get(dest.key)
    if (existing !== undefined && existing.status === 'open') return Promise.resolve(existing)
    let pending = this.#dialing.get(dest.key)
    if (pending === undefined) {
      pending = this.#dial(dest).finally(() => this.#dialing.delete(dest.key))
      this.#dialing.set(dest.key, pending)
    }
    return raceAbort(pending, signal)
  }

  /** relayed connections open now */
  connections(): Connection[] {
    return [...this.#connections.values()]
  }

  async #dial(dest: PeerKey): Promise<Connection> {
    const { self, limits, timers } = this.#ctx
    const route = this.#ctx.route(dest)
    if (route === undefined) throw new NoRouteError(dest.text)
    const conn = this.#ctx.directConnection(route.nextHop)
    if (conn === undefined) throw new NoRouteError(dest.text, `next hop ${route.nextHop.text} is not connected`)
    const signal = AbortSignal.timeout(timers.relayHandshakeTimeoutMs)
    const hopLimit = Math.min(route.hops + limits.relayHopSlack, limits.maxRelayHops)
    const open = encodeRelayOpen({ source: self, destination: dest, hopLimit })
    const stream = await conn.newStream({ signal })
    const opened = await openChannel(stream, RELAY_CHANNEL, {
      versions: ROUTER_PROTOCOL_VERSION,
      localPeer: this.#ctx.network.peerId,
      credentials: this.#ctx.credentials,
      signal,
      earlyData: lengthPrefixed(open),
    })
    this.stats.dialed++
    const via = route.nextHop.text
    let refusal: Error | undefined
    const status = (async () => {
      const { frame, rest } = await readFrame(opened.stream.source, MAX_RELAY_FRAME_BYTES, 'relay STATUS', signal)
      if (frame === undefined)
        throw new RelayBrokenError(dest.text, via, 'the relay closed the stream before answering')
      const s = decodeRelayStatus(frame)
      if (s.code !== 'OK') {
        refusal = new RelayRefusedError(dest.text, s.by.text, s.code, s.reason)
        throw refusal
      }
      return rest
    })()
    status.catch(() => {})
    const raw = relayedRaw(opened.stream, `/p2p/${via}/p2p-circuit/p2p/${dest.text}`, status, err =>
      err instanceof RelayRefusedError || err instanceof RelayBrokenError
        ? err
        : new RelayBrokenError(dest.text, via, err.message, { cause: err }),
    )
    try {
      const connection = await this.#ctx.upgrader.upgradeOutbound(raw, {
        transport: 'relay',
        remotePeer: dest.peerId,
        signal,
        onStream: (s, c) => this.#ctx.registry.accept(s, c),
        onClose: c => this.#forget(dest, c),
      })
      this.#remember(dest, connection)
      return connection
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      opened.stream.abort(error)
      // a refusal explains the failure better than the handshake error it caused
      if (refusal !== undefined) throw refusal
      throw error
    }
  }

  #remember(peer: PeerKey, connection: Connection): void {
    if (connection.status !== 'open') return
    this.#connections.set(peer.key, connection)
    this.stats.connections = this.#connections.size
  }

  #forget(peer: PeerKey, connection: Connection): void {
    if (this.#connections.get(peer.key) === connection) this.#connections.delete(peer.key)
    this.stats.connections = this.#connections.size
  }

  // ---- the accepting side: relay or terminate -------------------------------------------------------------------

  async #accept(stream: Stream, chCtx: ChannelContext): Promise<void> {
    const { self, timers } = this.#ctx
    const previous = peerKeyOf(chCtx.remotePeer)
    let open: RelayOpen
    let rest: AsyncIterable<Uint8Array>
    try {
      const read = await readFrame(
        stream.source,
        MAX_RELAY_FRAME_BYTES,
        'relay OPEN',
        AbortSignal.any([chCtx.signal, AbortSignal.timeout(timers.relayHandshakeTimeoutMs)]),
      )
      if (read.frame === undefined) return
      open = decodeRelayOpen(read.frame)
      rest = read.rest
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      if (err instanceof MalformedMessageError) await this.#refuse(stream, 'MALFORMED', reason)
      else stream.abort(err instanceof Error ? err : new Error(reason))
      return
    }
    if (this.#stopped) {
      await this.#refuse(stream, 'STOPPING', `${self.text} is leaving`)
      return
    }
    if (open.destination.key === self.key) await this.#terminate(stream, open, rest)
    else await this.#forward(stream, open, rest, previous)
  }

  async #refuse(stream: Stream, code: RelayRefusal, reason: string): Promise<void> {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1
    this.#ctx.logger.debug({ peer: stream.remotePeer.toString(), code, reason }, 'relay refused')
    const status = lengthPrefixed(encodeRelayStatus({ code, by: this.#ctx.self, reason }))
    await stream.sink([status]).catch(() => {})
  }

  async #terminate(stream: Stream, open: RelayOpen, rest: AsyncIterable<Uint8Array>): Promise<void> {
    const { limits } = this.#ctx
    if (this.#terminating >= limits.maxRelayedConnections) {
      await this.#refuse(
        stream,
        'TOO_MANY_CONNECTIONS',
        `${this.#terminating} relayed connections end here (limits.maxRelayedConnections)`,
      )
      return
    }
    this.#terminating++
    this.stats.terminated++
    try {
      const ok = lengthPrefixed(encodeRelayStatus({ code: 'OK', by: this.#ctx.self, reason: '' }))
      const via = stream.remotePeer.toString()
      const raw = relayedRaw(
        stream,
        `/p2p/${via}/p2p-circuit/p2p/${open.source.text}`,
        Promise.resolve(rest),
        err => new RelayBrokenError(open.source.text, via, err.message, { cause: err }),
        ok,
      )
      let connection: Connection
      try {
        connection = await this.#ctx.upgrader.upgradeInbound(raw, {
          transport: 'relay',
          onStream: (s, c) => this.#ctx.registry.accept(s, c),
          onClose: c => this.#forget(peerKeyOf(c.remotePeer), c),
        })
      } catch (err) {
        this.#ctx.logger.debug({ source: open.source.text, err: (err as Error).message }, 'relayed handshake failed')
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      const peer = peerKeyOf(connection.remotePeer)
      if (peer.key !== open.source.key) {
        // the OPEN named someone else: a relay lied, or a confused source; Noise says who it really is
        this.#ctx.logger.warn(
          { claimed: open.source.text, authenticated: peer.text },
          'relayed connection claimed another source',
        )
      }
      const existing = this.#connections.get(peer.key)
      if (existing === undefined || existing.status !== 'open') this.#remember(peer, connection)
      await connection.closed
    } finally {
      this.#terminating--
    }
  }

  async #forward(stream: Stream, open: RelayOpen, rest: AsyncIterable<Uint8Array>, previous: PeerKey): Promise<void> {
    const { limits, timers, self } = this.#ctx
    const dest = open.destination
    if (open.hopLimit <= 1) {
      await this.#refuse(stream, 'HOP_LIMIT', `hop limit reached at ${self.text}, ${dest.text} is further`)
      return
    }
    if (this.stats.active >= limits.maxRelayedStreams) {
      await this.#refuse(stream, 'TOO_MANY_RELAYED', `${this.stats.active} streams relayed (limits.maxRelayedStreams)`)
      return
    }
    for (const who of [previous, open.source]) {
      if ((this.#perPeer.get(who.key) ?? 0) >= limits.maxRelayedStreamsPerPeer) {
        await this.#refuse(
          stream,
          'TOO_MANY_RELAYED',
          `${limits.maxRelayedStreamsPerPeer} streams already relayed for ${who.text} (limits.maxRelayedStreamsPerPeer)`,
        )
        return
      }
    }
    let next = this.#ctx.directConnection(dest)
    let nextHop = dest
    if (next === undefined) {
      const route = this.#ctx.route(dest)
      if (route === undefined) {
        await this.#refuse(stream, 'NO_ROUTE', `${self.text} has no route to ${dest.text}`)
        return
      }
      nextHop = route.nextHop
      if (nextHop.key === previous.key) {
        await this.#refuse(stream, 'LOOP', `${self.text} would send it back to ${previous.text}`)
        return
      }
      next = this.#ctx.directConnection(nextHop)
      if (next === undefined) {
        await this.#refuse(stream, 'NEXT_HOP_FAILED', `next hop ${nextHop.text} is not connected`)
        return
      }
    }
    const counted = [previous.key, open.source.key]
    this.stats.active++
    for (const k of counted) this.#perPeer.set(k, (this.#perPeer.get(k) ?? 0) + 1)
    this.#streams.add(stream)
    try {
      let downstream: Stream
      try {
        const signal = AbortSignal.timeout(timers.relayHandshakeTimeoutMs)
        const s = await next.newStream({ signal })
        const opened = await openChannel(s, RELAY_CHANNEL, {
          versions: ROUTER_PROTOCOL_VERSION,
          localPeer: this.#ctx.network.peerId,
          credentials: this.#ctx.credentials,
          signal,
          earlyData: lengthPrefixed(encodeRelayOpen({ ...open, hopLimit: open.hopLimit - 1 })),
        })
        downstream = opened.stream
      } catch (err) {
        await this.#refuse(
          stream,
          'NEXT_HOP_FAILED',
          `${self.text} could not open a relay stream to ${nextHop.text}: ${(err as Error).message}`,
        )
        return
      }
      this.stats.forwarded++
      this.#streams.add(downstream)
      try {
        await pipeBoth(stream, rest, downstream, `${open.source.text} → ${dest.text} at ${self.text}`)
      } finally {
        this.#streams.delete(downstream)
      }
    } finally {
      this.#streams.delete(stream)
      this.stats.active--
      for (const k of counted) {
        const n = (this.#perPeer.get(k) ?? 1) - 1
        if (n <= 0) this.#perPeer.delete(k)
        else this.#perPeer.set(k, n)
      }
    }
  }

  /** Refuses new relays, aborts the streams relayed through us and closes our relayed connections. */
  async stop(): Promise<void> {
    this.#stopped = true
    const err = new RouterStoppedError('relay')
    for (const s of this.#streams) s.abort(err)
    await Promise.all(
      [...this.#connections.values()].map(c =>
        c.close({ signal: AbortSignal.timeout(1_000) }).catch(() => c.abort(err)),
      ),
    )
    this.#ctx.registry.unhandle(RELAY_CHANNEL)
  }
}

/**
 * Copies `upstreamRest` (what follows OPEN) to `downstream` and `downstream`'s bytes (STATUS, then the session)
 * back up. Each direction half-closes when its source ends; a failure on either side resets both.
 */
async function pipeBoth(
  upstream: Stream,
  upstreamRest: AsyncIterable<Uint8Array>,
  downstream: Stream,
  what: string,
): Promise<void> {
  const fail = (side: string) => (err: unknown) => {
    const e = new Error(`relay ${what}: ${side} failed: ${err instanceof Error ? err.message : String(err)}`)
    upstream.abort(e)
    downstream.abort(e)
    throw e
  }
  await Promise.all([
    downstream.sink(upstreamRest).catch(fail('towards the destination')),
    upstream.sink(downstream.source).catch(fail('towards the source')),
  ]).catch(() => {})
}

/**
 * A relay stream as the RawConnection the upgrader runs Noise on. `rest` resolves to the bytes after the relay
 * header (after STATUS on the source's side: it rejects with the refusal); `first` is written before the session.
 */
function relayedRaw(
  stream: Stream,
  addr: string,
  rest: Promise<AsyncIterable<Uint8Array>>,
  wrap: (err: Error) => Error,
  first?: Uint8Array,
): RawConnection {
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      yield* await rest
    } catch (err) {
      throw wrap(err instanceof Error ? err : new Error(String(err)))
    }
  }
  return {
    remoteAddr: multiaddr(addr),
    source: source(),
    async sink(src) {
      const head = first
      try {
        await stream.sink(
          head === undefined
            ? src
            : (async function* () {
                yield head
                yield* src
              })(),
        )
      } catch (err) {
        throw wrap(err instanceof Error ? err : new Error(String(err)))
      }
    },
    async close() {
      await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream.abort(new Error('close failed')))
    },
    abort(err) {
      stream.abort(err)
    },
  }
}
