/**
 * The router: the routing state machine driven by real links, plus relayed streams and broadcasts.
 *
 * Every connection the network makes (either direction) is offered a router control channel; a neighbour that
 * accepts becomes a routing link. Routes come and go with links and updates; `openStream` reaches any routed peer
 * directly or through relays; `broadcast` delivers along the shortest-path tree and accounts for every target.
 */
import { EventEmitter } from 'node:events'
import type {
  AuthPolicy,
  ChannelContext,
  ChannelRegistry,
  Credential,
  OpenChannelOptions,
  OpenedChannel,
} from '@pnet/channel'
import { channelId, openChannel } from '@pnet/channel'
import {
  AbortError,
  type AbortOptions,
  type Connection,
  childLogger,
  createUpgrader,
  type Logger,
  type Network,
  type PeerId,
  resolveLimits,
  type Stream,
  silentLogger,
} from '@pnet/network'
import {
  type BroadcastHandler,
  type BroadcastOptions,
  type BroadcastReport,
  BroadcastService,
  type BroadcastStats,
} from './broadcast.js'
import { ControlLink, type LinkMetric } from './control-link.js'
import { InvalidDestinationError, NoRouteError, RouterStoppedError } from './errors.js'
import { type RouterLimits, type RouterTimers, resolveRouterLimits, resolveRouterTimers } from './limits.js'
import { type PeerKey, peerKeyOf } from './peer-key.js'
import { CONTROL_CHANNEL, ROUTER_PROTOCOL_VERSION } from './protocols.js'
import { RelayService, type RelayStats } from './relay.js'
import { type Route, type RoutingCounters, RoutingTable } from './routing-table.js'

export interface RouterInit {
  /** the network whose connections are the links (the router never dials; whoever owns the network does) */
  network: Network
  /** the channel registry that `network.handle(registry.accept)` feeds; the router adds its channels to it */
  channels: ChannelRegistry
  /** `hops` (default): every link costs 1. `rtt`: a link costs its smoothed round-trip time in ms. */
  metric?: LinkMetric
  limits?: Partial<RouterLimits>
  timers?: Partial<RouterTimers>
  /** who may use our router channels (control, relay, broadcast); default every authenticated peer */
  auth?: AuthPolicy
  /** presented when we open router channels on neighbours (e.g. a fleet pre-shared key) */
  credentials?: readonly Credential[]
  logger?: Logger
}

/** A route as users see it. */
export interface RouteInfo {
  readonly destination: PeerId
  readonly nextHop: PeerId
  /** hop count, or summed RTT (ms) with the `rtt` metric */
  readonly metric: number
  readonly hops: number
  /** the destination's sequence number the route carries */
  readonly seqno: number
  /** ms since the route last changed (next hop, metric or hops) */
  readonly age: number
  /** ms since the next hop last confirmed it */
  readonly confirmedAgo: number
}

export interface RouteChange {
  readonly destination: PeerId
  /** undefined: the destination became unreachable */
  readonly route: RouteInfo | undefined
  /** undefined: the destination was not reachable before */
  readonly previous: RouteInfo | undefined
}

export interface RouterEvents {
  route: [RouteChange]
  'neighbour:up': [PeerId]
  'neighbour:down': [PeerId, Error]
}

export interface WaitForRouteOptions extends AbortOptions {
  /** give up after this many ms with NoRouteError (default: wait until `signal` or `stop()`) */
  timeoutMs?: number
}

/** Options of `openStream`: those of `openChannel` (versions, metadata, credentials, timeout, signal…). */
export type OpenStreamOptions = Omit<OpenChannelOptions, 'localPeer'>

export interface RoutedStream extends OpenedChannel {
  /** false: a direct connection to a neighbour; true: relayed, end-to-end encrypted */
  readonly relayed: boolean
  /** links between us and the peer (1 when direct) */
  readonly hops: number
}

export interface RouterStats {
  /** destinations with a route */
  readonly routes: number
  /** destinations known (routes, and recently lost ones kept for loop freedom) */
  readonly destinations: number
  readonly neighbours: number
  /** control-channel traffic, all links */
  readonly control: { framesOut: number; bytesOut: number; framesIn: number; bytesIn: number }
  readonly routing: Readonly<RoutingCounters>
  readonly relay: Readonly<RelayStats>
  readonly broadcast: Readonly<BroadcastStats>
  /**
   * bytes of the routing table's per-destination state: ~43 per destination (fields, key reference) plus 7 per
   * destination and neighbour (its offers), plus the slot index; the shared peer keys are not counted
   */
  readonly tableBytes: number
}

export interface Router extends EventEmitter<RouterEvents> {
  readonly peerId: PeerId
  readonly metric: LinkMetric
  readonly limits: Readonly<RouterLimits>
  readonly timers: Readonly<RouterTimers>
  /**
   * The neighbour to send through to reach `peer`, or undefined when there is no route.
   *
   * @example
   * ```ts
   * router.nextHop(peer)?.toString()   // '12D3KooW…' (a neighbour)
   * ```
   */
  nextHop(peer: PeerId): PeerId | undefined
  /**
   * The route to `peer`, or undefined.
   *
   * @example
   * ```ts
   * const r = router.route(peer)   // { destination, nextHop, metric: 3, hops: 3, seqno, age, confirmedAgo }
   * ```
   */
  route(peer: PeerId): RouteInfo | undefined
  /**
   * The route to `peer` once there is one: at once if there is already, else when the routing table learns it.
   * Rejects with NoRouteError after `timeoutMs`, AbortError when `signal` fires, RouterStoppedError on `stop()`.
   *
   * @example
   * ```ts
   * await network.dial('tcp://10.0.0.2:4001')
   * const { hops } = await router.waitForRoute(peer, { timeoutMs: 10_000 })
   * ```
   */
  waitForRoute(peer: PeerId, options?: WaitForRouteOptions): Promise<RouteInfo>
  /**
   * Every route.
   *
   * @example
   * ```ts
   * for (const r of router.routes()) console.log(r.destination.toString(), 'via', r.nextHop.toString(), r.hops)
   * ```
   */
  routes(): RouteInfo[]
  /**
   * Every peer with a route (ourselves excluded): the fleet as this node knows it.
   *
   * @example
   * ```ts
   * console.log(`${router.reachable().length} hosts`)
   * ```
   */
  reachable(): PeerId[]
  /** calls `fn` for every route, without building RouteInfo objects (cheap on tables of thousands) */
  forEachRoute(fn: (destination: PeerId, nextHop: PeerId, hops: number, metric: number) => void): void
  /** peers with an up routing link */
  neighbours(): PeerId[]
  /**
   * A connection to `peer`: the direct one when it is a neighbour, else a relayed end-to-end encrypted one (dialed
   * once, then reused). Throws NoRouteError, RelayRefusedError (naming the relay and why), InvalidDestinationError.
   *
   * @example
   * ```ts
   * const conn = await router.connect(peer)
   * conn.transport      // 'relay' when relayed; conn.remotePeer is authenticated either way
   * ```
   */
  connect(peer: PeerId, options?: AbortOptions): Promise<Connection>
  /**
   * Opens `channel` on `peer`, directly or through relays; the stream is the channel's, as from `openChannel`.
   * Channel names here and in `broadcast`/`handleBroadcast` are protocol IDs or short names (`echo` = `/pnet/echo`).
   *
   * @example
   * ```ts
   * const { stream, relayed, hops } = await router.openStream(peer, '/pnet/echo', { versions: 1 })
   * await stream.sink([new TextEncoder().encode('hi')])
   * ```
   */
  openStream(peer: PeerId, channel: string, options?: OpenStreamOptions): Promise<RoutedStream>
  /**
   * Delivers `payload` to `targets` (default: every reachable peer) along the routes, one copy per next hop, and
   * reports on every target.
   *
   * @example
   * ```ts
   * const { delivered, failed } = await router.broadcast('/ops/run', payload, { timeoutMs: 10_000 })
   * for (const f of failed) console.error(f.peer.toString(), f.code, f.reason)   // NO_ROUTE, TIMEOUT, …
   * ```
   */
  broadcast(channel: string, payload: Uint8Array, options?: BroadcastOptions): Promise<BroadcastReport>
  /**
   * Receives broadcasts sent on `channel` (one handler per channel; a new one replaces the old). The target counts
   * as reached when the handler returns; a throw is reported to the origin.
   *
   * @example
   * ```ts
   * router.handleBroadcast('/ops/run', async msg => { await run(new TextDecoder().decode(msg.payload)) })
   * ```
   */
  handleBroadcast(channel: string, handler: BroadcastHandler): void
  /** Stops receiving broadcasts on `channel` (targets then report NO_HANDLER); true if there was a handler. */
  unhandleBroadcast(channel: string): boolean
  /**
   * Counters: routes, control traffic, routing events, relays, broadcasts, table size.
   *
   * @example
   * ```ts
   * const { routes, control, relay } = router.stats()
   * ```
   */
  stats(): RouterStats
  /**
   * Graceful leave: retracts our routes at every neighbour at once, closes links and relayed connections. The
   * network stays open (it is the caller's).
   *
   * @example
   * ```ts
   * await router.stop(); await network.close()
   * ```
   */
  stop(options?: AbortOptions): Promise<void>
}

/**
 * Creates a router on a network and a channel registry, and starts it: existing and future connections become
 * routing links.
 *
 * @example
 * ```ts
 * import { createChannelRegistry } from '@pnet/channel'
 * import { createNetwork, generateKey, tcp } from '@pnet/network'
 * import { createRouter } from '@pnet/router'
 *
 * const network = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * const channels = createChannelRegistry({ localPeer: network.peerId })
 * network.handle(channels.accept)
 * const router = createRouter({ network, channels })
 * await network.listen('tcp://0.0.0.0:4001')
 * await network.dial('tcp://10.0.0.2:4001')                 // any one node of the overlay
 * router.on('route', ({ destination, route }) => console.log(destination.toString(), route?.hops))
 * const { stream } = await router.openStream(farPeer, '/pnet/echo')   // relayed if not a neighbour
 * ```
 */
export function createRouter(init: RouterInit): Router {
  return new RouterImpl(init)
}

/** Delay before a dropped link is tried again on a connection that is still open; doubles per failure in a row. */
const LINK_RETRY_MS = 250

class RouterImpl extends EventEmitter<RouterEvents> implements Router {
  readonly peerId: PeerId
  readonly metric: LinkMetric
  readonly limits: Readonly<RouterLimits>
  readonly timers: Readonly<RouterTimers>
  readonly #network: Network
  readonly #registry: ChannelRegistry
  readonly #self: PeerKey
  readonly #log: Logger
  readonly #table: RoutingTable
  readonly #links = new Map<string, ControlLink>()
  readonly #notRouters = new WeakSet<Connection>()
  /** links to a peer that went down in a row without ever coming up: the retry backs off */
  readonly #failures = new Map<string, number>()
  readonly #relay: RelayService
  readonly #broadcast: BroadcastService
  readonly #credentials: readonly Credential[] | undefined
  readonly #auth: AuthPolicy | undefined
  readonly #retired = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0 }
  #timer: NodeJS.Timeout | undefined
  #timerAt = Number.POSITIVE_INFINITY
  #stopped = false
  /** rejecters of waitForRoute calls in progress, called on stop() */
  readonly #waiting = new Set<(err: Error) => void>()

  constructor(init: RouterInit) {
    super()
    this.#network = init.network
    this.#registry = init.channels
    this.peerId = init.network.peerId
    this.metric = init.metric ?? 'hops'
    if (this.metric !== 'hops' && this.metric !== 'rtt') {
      throw new TypeError(`metric must be 'hops' or 'rtt', got ${String(this.metric)}`)
    }
    this.limits = resolveRouterLimits(init.limits)
    this.timers = resolveRouterTimers(init.timers)
    this.#credentials = init.credentials
    this.#auth = init.auth
    this.#self = peerKeyOf(this.peerId)
    this.#log = childLogger(init.logger ?? silentLogger, { component: 'router' })
    this.#table = new RoutingTable({
      self: this.#self,
      limits: this.limits,
      timers: this.timers,
      logger: this.#log,
      send: (to, msg) => this.#links.get(to.key)?.send(msg),
      routeChangesWanted: () => this.listenerCount('route') > 0,
      onRouteChange: (dest, route, previous) => {
        this.emit('route', {
          destination: dest.peerId,
          route: route === undefined ? undefined : this.#info(route),
          previous: previous === undefined ? undefined : this.#info(previous),
        })
      },
    })
    const upgrader = createUpgrader({
      privateKey: init.network.privateKey,
      limits: resolveLimits({
        handshakeTimeoutMs: this.timers.relayHandshakeTimeoutMs,
        idleTimeoutMs: this.timers.relayedIdleTimeoutMs,
      }),
      logger: this.#log,
    })
    const route = (dest: PeerKey): { nextHop: PeerKey; hops: number } | undefined => {
      const r = this.#table.route(dest)
      return r === undefined ? undefined : { nextHop: r.nextHop, hops: r.hops }
    }
    const directConnection = (peer: PeerKey): Connection | undefined => this.#direct(peer)
    this.#relay = new RelayService({
      self: this.#self,
      network: this.#network,
      registry: this.#registry,
      upgrader,
      limits: this.limits,
      timers: this.timers,
      logger: this.#log,
      auth: this.#auth,
      credentials: this.#credentials,
      route,
      directConnection,
    })
    this.#broadcast = new BroadcastService({
      self: this.#self,
      registry: this.#registry,
      localPeer: this.peerId,
      limits: this.limits,
      timers: this.timers,
      logger: this.#log,
      auth: this.#auth,
      credentials: this.#credentials,
      route,
      directConnection,
      reachable: () => {
        const out: PeerKey[] = []
        this.#table.forEachRoute(dest => out.push(dest))
        return out
      },
    })
    this.#registry.handle(CONTROL_CHANNEL, (stream, ctx) => this.#inbound(stream, ctx), {
      versions: ROUTER_PROTOCOL_VERSION,
      auth: this.#auth,
      maxConcurrent: Math.max(64, this.#network.limits.maxConnections * 2),
      maxMessageSize: this.limits.maxControlFrameBytes,
    })
    this.#network.on('connection', this.#onConnection)
    this.#network.on('disconnect', this.#onDisconnect)
    for (const conn of this.#network.connections()) this.#onConnection(conn)
    this.#schedule()
  }

  // ---- links ---------------------------------------------------------------------------------------------------

  readonly #onConnection = (conn: Connection): void => {
    if (this.#stopped || conn.status !== 'open' || this.#notRouters.has(conn)) return
    const peer = peerKeyOf(conn.remotePeer)
    if (this.#links.has(peer.key)) return
    this.#startLink(peer, conn)
  }

  readonly #onDisconnect = (conn: Connection, err: Error | undefined): void => {
    const link = this.#links.get(peerKeyOf(conn.remotePeer).key)
    if (link?.connection === conn) {
      link.down(err ?? new Error(`connection to ${link.peer.text} closed`))
    }
  }

  #startLink(peer: PeerKey, conn: Connection): ControlLink {
    const link = new ControlLink({
      peer,
      connection: conn,
      metric: this.metric,
      limits: this.limits,
      timers: this.timers,
      credentials: this.#credentials,
      logger: this.#log,
      onUp: (l, cost) => {
        if (this.#links.get(peer.key) !== l) return
        this.#failures.delete(peer.key)
        this.#table.linkUp(peer, cost)
        this.#log.debug({ peer: peer.text, cost }, 'router link up')
        this.emit('neighbour:up', peer.peerId)
        this.#schedule()
      },
      onMessage: (l, msg) => {
        if (this.#links.get(peer.key) !== l) return
        this.#table.receive(peer, msg)
        this.#schedule()
      },
      onCost: (l, cost) => {
        if (this.#links.get(peer.key) !== l) return
        this.#table.setCost(peer, cost)
        this.#schedule()
      },
      onDown: (l, reason, notRouter) => this.#linkDown(l, reason, notRouter),
    })
    this.#links.set(peer.key, link)
    void link.open()
    return link
  }

  #linkDown(link: ControlLink, reason: Error, permanent: boolean): void {
    const { peer } = link
    this.#retired.framesOut += link.stats.framesOut
    this.#retired.bytesOut += link.stats.bytesOut
    this.#retired.framesIn += link.stats.framesIn
    this.#retired.bytesIn += link.stats.bytesIn
    if (this.#links.get(peer.key) !== link) return
    this.#links.delete(peer.key)
    if (permanent) this.#notRouters.add(link.connection)
    if (this.#table.hasNeighbour(peer)) {
      this.#table.linkDown(peer)
      this.#log.debug({ peer: peer.text, reason: reason.message }, 'router link down')
      this.emit('neighbour:down', peer.peerId, reason)
      this.#schedule()
    } else {
      this.#log.debug({ peer: peer.text, reason: reason.message, permanent }, 'router link could not be set up')
    }
    if (this.#stopped || permanent) return
    // still connected (a stream failed, or one of two connections closed): try again, backing off while it fails
    // a link that never came up, or fell at once (the neighbour keeps refusing us), counts as a failure
    const shortLived = link.upAt === undefined || Date.now() - link.upAt < this.timers.helloIntervalMs
    const failures = shortLived ? (this.#failures.get(peer.key) ?? 0) + 1 : 0
    this.#failures.set(peer.key, failures)
    const delay = Math.min(LINK_RETRY_MS * 2 ** failures, this.timers.linkTimeoutMs)
    setTimeout(() => {
      if (this.#stopped || this.#links.has(peer.key)) return
      const conn = this.#network.connections(peer.peerId).find(c => c.status === 'open' && !this.#notRouters.has(c))
      if (conn !== undefined) this.#startLink(peer, conn)
      else this.#failures.delete(peer.key)
    }, delay).unref()
  }

  async #inbound(stream: Stream, ctx: ChannelContext): Promise<void> {
    if (this.#stopped) return
    const peer = peerKeyOf(ctx.remotePeer)
    let link = this.#links.get(peer.key)
    if (link === undefined || link.state === 'down') {
      // routing links run on direct connections only, never inside a relayed one
      const conn = this.#network
        .connections(ctx.remotePeer)
        .find(c => c.status === 'open' && (ctx.connection === undefined || c === ctx.connection))
      // not on a direct connection, or one where the neighbour refused our control channel for good
      if (conn === undefined || this.#notRouters.has(conn)) return
      link = this.#startLink(peer, conn)
    }
    await link.attachInbound(stream, ctx)
  }

  // ---- timers --------------------------------------------------------------------------------------------------

  #schedule(): void {
    if (this.#stopped) return
    const at = this.#table.nextDeadline()
    if (at >= this.#timerAt) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(
      () => {
        this.#timerAt = Number.POSITIVE_INFINITY
        this.#table.tick()
        this.#schedule()
      },
      Math.max(0, at - Date.now()),
    )
    this.#timer.unref()
  }

  // ---- queries -------------------------------------------------------------------------------------------------

  #direct(peer: PeerKey): Connection | undefined {
    return this.#network.connections(peer.peerId).find(c => c.status === 'open')
  }

  #info(r: Route): RouteInfo {
    const now = Date.now()
    return {
      destination: r.destination.peerId,
      nextHop: r.nextHop.peerId,
      metric: r.metric,
      hops: r.hops,
      seqno: r.seqno,
      age: now - r.changedAt,
      confirmedAgo: now - r.confirmedAt,
    }
  }

  nextHop(peer: PeerId): PeerId | undefined {
    return this.#table.nextHop(peerKeyOf(peer))?.peerId
  }

  route(peer: PeerId): RouteInfo | undefined {
    const r = this.#table.route(peerKeyOf(peer))
    return r === undefined ? undefined : this.#info(r)
  }

  routes(): RouteInfo[] {
    return this.#table.routes().map(r => this.#info(r))
  }

  reachable(): PeerId[] {
    const out: PeerId[] = []
    this.#table.forEachRoute(dest => out.push(dest.peerId))
    return out
  }

  forEachRoute(fn: (destination: PeerId, nextHop: PeerId, hops: number, metric: number) => void): void {
    this.#table.forEachRoute((dest, hop, metric, hops) => fn(dest.peerId, hop.peerId, hops, metric))
  }

  neighbours(): PeerId[] {
    return this.#table.neighbours().map(k => k.peerId)
  }

  stats(): RouterStats {
    const control = { ...this.#retired }
    for (const link of this.#links.values()) {
      control.framesOut += link.stats.framesOut
      control.bytesOut += link.stats.bytesOut
      control.framesIn += link.stats.framesIn
      control.bytesIn += link.stats.bytesIn
    }
    return {
      routes: this.#table.size,
      destinations: this.#table.destinations,
      neighbours: this.#table.neighbours().length,
      control,
      routing: { ...this.#table.counters },
      relay: { ...this.#relay.stats, refused: { ...this.#relay.stats.refused } },
      broadcast: { ...this.#broadcast.stats },
      tableBytes: this.#table.stateBytes,
    }
  }

  // ---- streams -------------------------------------------------------------------------------------------------

  waitForRoute(peer: PeerId, options: WaitForRouteOptions = {}): Promise<RouteInfo> {
    const now = this.route(peer)
    if (now !== undefined) return Promise.resolve(now)
    const what = `waiting for a route to ${peer.toString()}`
    if (this.#stopped) return Promise.reject(new RouterStoppedError(what))
    if (options.signal?.aborted === true) return Promise.reject(new AbortError(what, { cause: options.signal.reason }))
    return new Promise<RouteInfo>((resolve, reject) => {
      const { signal, timeoutMs } = options
      const finish = (err: Error | undefined, route?: RouteInfo): void => {
        clearTimeout(timer)
        this.off('route', onRoute)
        signal?.removeEventListener('abort', onAbort)
        this.#waiting.delete(onStop)
        if (err === undefined) resolve(route as RouteInfo)
        else reject(err)
      }
      const onRoute = (change: RouteChange): void => {
        if (change.route !== undefined && change.destination.equals(peer)) finish(undefined, change.route)
      }
      const onAbort = (): void => finish(new AbortError(what, { cause: signal?.reason }))
      const onStop = (err: Error): void => finish(err)
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => finish(new NoRouteError(peer.toString(), `none learned within ${timeoutMs} ms`)),
              timeoutMs,
            )
      this.on('route', onRoute)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(onStop)
    })
  }

  async connect(peer: PeerId, options: AbortOptions = {}): Promise<Connection> {
    if (this.#stopped) throw new RouterStoppedError(`connection to ${peer.toString()}`)
    const key = peerKeyOf(peer)
    if (key.key === this.#self.key) throw new InvalidDestinationError(key.text, 'that is this node')
    return this.#direct(key) ?? (await this.#relay.connect(key, options.signal))
  }

  async openStream(peer: PeerId, channel: string, options: OpenStreamOptions = {}): Promise<RoutedStream> {
    const key = peerKeyOf(peer)
    const conn = await this.connect(peer, options)
    const relayed = conn.transport === 'relay'
    const hops = relayed ? (this.#table.route(key)?.hops ?? 0) : 1
    const stream = await conn.newStream({ signal: options.signal })
    const opened = await openChannel(stream, channel, { ...options, localPeer: this.peerId })
    return {
      stream: opened.stream,
      protocol: opened.protocol,
      version: opened.version,
      metadata: opened.metadata,
      maxMessageSize: opened.maxMessageSize,
      remoteMaxMessageSize: opened.remoteMaxMessageSize,
      relayed,
      hops,
    }
  }

  broadcast(channel: string, payload: Uint8Array, options?: BroadcastOptions): Promise<BroadcastReport> {
    return this.#broadcast.broadcast(channelId(channel), payload, options)
  }

  handleBroadcast(channel: string, handler: BroadcastHandler): void {
    this.#broadcast.handle(channelId(channel), handler)
  }

  unhandleBroadcast(channel: string): boolean {
    return this.#broadcast.unhandle(channelId(channel))
  }

  async stop(options: AbortOptions = {}): Promise<void> {
    if (this.#stopped) return
    const signal = options.signal ?? AbortSignal.timeout(2_000)
    // retractions first, to every neighbour, before anything closes
    this.#table.stop()
    this.#stopped = true
    for (const reject of [...this.#waiting]) reject(new RouterStoppedError('waiting for a route'))
    clearTimeout(this.#timer)
    this.#network.off('connection', this.#onConnection)
    this.#network.off('disconnect', this.#onDisconnect)
    this.#registry.unhandle(CONTROL_CHANNEL)
    this.#broadcast.stop()
    await Promise.all([...this.#links.values()].map(link => link.close(signal)))
    await this.#relay.stop()
  }
}
