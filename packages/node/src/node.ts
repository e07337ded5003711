/**
 * A node: one identity, the network, the channel registry and the router, plus what an application expects from a
 * peer-to-peer node: joining through any one address, redialing lost neighbours with backoff, answering libp2p ping,
 * metrics and a graceful stop that withdraws our routes at once.
 */
import { EventEmitter } from 'node:events'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import {
  type AuthPolicy,
  type ChannelHandler,
  type ChannelLimits,
  type ChannelRegistry,
  type Credential,
  call,
  callStream,
  cast,
  channelId,
  createChannelRegistry,
  type HandleOptions,
  type RpcOptions,
} from '@pnet/channel'
import {
  type AbortOptions,
  type AddressInput,
  type Connection,
  childLogger,
  createNetwork,
  isQuicInstalled,
  type Limits,
  type Logger,
  loadOrCreateKey,
  type Multiaddr,
  memory,
  type Network,
  parseAddress,
  peerIdOfAddress,
  quic,
  type TransportFactory,
  tcp,
  ws,
} from '@pnet/network'
import {
  type BroadcastHandler,
  type BroadcastOptions,
  type BroadcastReport,
  createRouter,
  type LinkMetric,
  type OpenStreamOptions,
  type RouteChange,
  type RoutedStream,
  type RouteInfo,
  type Router,
  type RouterLimits,
  type RouterTimers,
  type WaitForRouteOptions,
} from '@pnet/router'
import {
  backoffDelay,
  DEFAULT_DRAIN_MS,
  DEFAULT_KEEPALIVE,
  DEFAULT_RECONNECT,
  DIAL_TIMEOUT_MS,
  type KeepaliveOptions,
  PING_PROTOCOL,
  type ReconnectOptions,
} from './limits.js'
import { defaultLogger } from './logger.js'
import { MetricsBook, type NodeMetrics } from './metrics.js'
import { Pinger, servePing } from './ping.js'

export interface NodeLimits {
  network?: Partial<Limits>
  router?: Partial<RouterLimits>
  channels?: Partial<ChannelLimits>
}

export interface RoutingOptions {
  /** `hops` (default) or `rtt` */
  metric?: LinkMetric
  timers?: Partial<RouterTimers>
}

export interface NodeInit {
  /** the identity; or give `keyFile` */
  key?: PrivateKey
  /** read the key from here, creating an Ed25519 key (mode 0600) when absent */
  keyFile?: string
  /** addresses to listen on (multiaddrs or URL shorthands) */
  listen?: AddressInput[]
  /** addresses of nodes to join through; one of any node is enough */
  join?: AddressInput[]
  /** default: tcp, ws, memory, and quic when its native module is installed */
  transports?: TransportFactory[]
  limits?: NodeLimits
  routing?: RoutingOptions
  keepalive?: Partial<KeepaliveOptions>
  reconnect?: Partial<ReconnectOptions>
  /** who may use our router channels (default: every authenticated peer) */
  auth?: AuthPolicy
  /** presented on the router channels of neighbours (e.g. a fleet pre-shared key) */
  credentials?: readonly Credential[]
  /**
   * pino-compatible; library code logs only through it. Default: `defaultLogger()`, warnings and errors on stderr
   * (a handler that throws is logged there); `silentLogger` from @pnet/network drops everything.
   */
  logger?: Logger
}

export interface PeerInfo {
  peer: PeerId
  /** the address of the connection (dialed, or the remote's for inbound) */
  addr: Multiaddr
  transport: string
  direction: 'inbound' | 'outbound'
  /** round-trip time of the connection, ms, once measured */
  rttMs: number | undefined
  /** when the connection opened, epoch ms */
  since: number
  /** open connections to this peer */
  connections: number
}

export interface PingReply {
  seq: number
  rttMs: number
  /** links crossed (1 for a neighbour) */
  hops: number
}

export interface PingOptions extends AbortOptions {
  /** pings to send (default 1) */
  count?: number
  /** ms between pings (default 1000) */
  intervalMs?: number
  /** ms to wait for each reply (default 5000) */
  timeoutMs?: number
  /** called as each reply arrives */
  onReply?: (reply: PingReply) => void
}

export interface NodeEvents {
  /** the first connection to a peer opened */
  'peer:connect': [PeerId]
  /** the last connection to a peer closed */
  'peer:disconnect': [PeerId, Error | undefined]
  'route:change': [RouteChange]
}

/**
 * A running pnet node. Channel names are protocol IDs or short names (`echo` means `/pnet/echo`), as on every layer.
 * The examples assume `const node = await createNode({ keyFile, listen, join })` and `await node.start()`.
 */
export interface Node extends EventEmitter<NodeEvents> {
  readonly id: PeerId
  /** listening addresses, each ending in /p2p/<id> */
  readonly addrs: Multiaddr[]
  readonly network: Network
  readonly channels: ChannelRegistry
  readonly router: Router
  /**
   * Listens, then joins (redialing in the background what does not answer yet).
   *
   * @example
   * ```ts
   * await node.start(); console.log(node.addrs.map(String))
   * ```
   */
  start(): Promise<void>
  /**
   * Withdraws our routes at every neighbour, closes listeners, drains streams up to `drainMs` (default 5 s).
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void node.stop({ drainMs: 2_000 }))
   * ```
   */
  stop(options?: { drainMs?: number }): Promise<void>
  /**
   * Dials `addr` and keeps the link up (redials with backoff when it drops); resolves to the peer's ID.
   *
   * @example
   * ```ts
   * const peer = await node.connect('tcp://10.0.0.3:4001')
   * ```
   */
  connect(addr: AddressInput, options?: AbortOptions): Promise<PeerId>
  /**
   * Closes the connections to `peer` and stops redialing it.
   *
   * @example
   * ```ts
   * await node.disconnect(peer)
   * ```
   */
  disconnect(peer: PeerId): Promise<void>
  /**
   * Serves `channel`; the handler owns the stream until its promise settles. A handler that throws resets the
   * stream (the caller gets a ChannelClosedError naming channel and node) and is logged at `warn`.
   *
   * @example
   * ```ts
   * node.handle('echo', async stream => { await stream.sink(stream.source) })
   * ```
   */
  handle(channel: string, handler: ChannelHandler, options?: HandleOptions): void
  /**
   * Stops serving `channel` (running handlers carry on); true if it was served.
   *
   * @example
   * ```ts
   * node.unhandle('echo')
   * ```
   */
  unhandle(channel: string): boolean
  /**
   * Opens `channel` on `peer`, directly when it is a neighbour, else relayed and end-to-end encrypted.
   *
   * @example
   * ```ts
   * const { stream, relayed, hops } = await node.openStream(peer, 'echo')
   * ```
   */
  openStream(peer: PeerId, channel: string, options?: OpenStreamOptions): Promise<RoutedStream>
  /**
   * Request/response on `channel` (@pnet/channel `call`; serve it with `rpcHandler({ call })`).
   *
   * @example
   * ```ts
   * const v = await node.request<string>(peer, 'kv', { get: 'x' }, { signal: AbortSignal.timeout(2_000) })
   * ```
   */
  request<T = unknown>(peer: PeerId, channel: string, message: unknown, options?: RpcOptions): Promise<T>
  /**
   * One-way message on `channel` (@pnet/channel `cast`; served by `rpcHandler({ cast })`).
   *
   * @example
   * ```ts
   * await node.send(peer, 'log', { level: 'info', msg: 'deployed' })
   * ```
   */
  send(peer: PeerId, channel: string, message: unknown, options?: RpcOptions): Promise<void>
  /**
   * Streamed replies on `channel` (@pnet/channel `callStream`; served by `rpcHandler({ stream })`). Breaking out of
   * the loop, or `signal`, cancels the remote handler.
   *
   * @example
   * ```ts
   * for await (const line of node.callStream<string>(peer, 'tail', { file: '/var/log/syslog' })) console.log(line)
   * ```
   */
  callStream<T = unknown>(peer: PeerId, channel: string, message: unknown, options?: RpcOptions): AsyncGenerator<T>
  /**
   * Delivers `payload` to every reachable node or `targets`, along the shortest-path tree, with a report.
   *
   * @example
   * ```ts
   * const { delivered, failed } = await node.broadcast('news', new TextEncoder().encode('hi'))
   * ```
   */
  broadcast(channel: string, payload: Uint8Array, options?: BroadcastOptions): Promise<BroadcastReport>
  /**
   * Receives broadcasts on `channel` (one handler per channel).
   *
   * @example
   * ```ts
   * node.handleBroadcast('news', msg => console.log(new TextDecoder().decode(msg.payload)))
   * ```
   */
  handleBroadcast(channel: string, handler: BroadcastHandler): void
  /**
   * Stops receiving broadcasts on `channel`; true if there was a handler.
   *
   * @example
   * ```ts
   * node.unhandleBroadcast('news')
   * ```
   */
  unhandleBroadcast(channel: string): boolean
  /**
   * Neighbours: one entry per peer.
   *
   * @example
   * ```ts
   * for (const p of node.peers()) console.log(p.peer.toString(), p.transport, p.rttMs)
   * ```
   */
  peers(): PeerInfo[]
  /**
   * The route to `peer` (next hop, hops, metric), or undefined.
   *
   * @example
   * ```ts
   * node.route(peer)?.hops   // 3
   * ```
   */
  route(peer: PeerId): RouteInfo | undefined
  /**
   * The route to `peer` once the node has one (at once if it has). NoRouteError after `timeoutMs`, AbortError on
   * `signal`, RouterStoppedError when the node stops.
   *
   * @example
   * ```ts
   * await node.waitForRoute(peer, { timeoutMs: 10_000 }); await node.request(peer, 'kv', { get: 'x' })
   * ```
   */
  waitForRoute(peer: PeerId, options?: WaitForRouteOptions): Promise<RouteInfo>
  /**
   * Every route.
   *
   * @example
   * ```ts
   * for (const r of node.routes()) console.log(r.destination.toString(), r.hops)
   * ```
   */
  routes(): RouteInfo[]
  /**
   * Every peer this node has a route to.
   *
   * @example
   * ```ts
   * console.log(`${node.reachable().length} nodes`)
   * ```
   */
  reachable(): PeerId[]
  /**
   * libp2p ping to any reachable peer, multi-hop included.
   *
   * @example
   * ```ts
   * const [{ rttMs, hops }] = await node.ping(peer)
   * ```
   */
  ping(peer: PeerId, options?: PingOptions): Promise<PingReply[]>
  /**
   * Connections and bytes per transport, streams and bytes per channel.
   *
   * @example
   * ```ts
   * console.log(node.metrics().channels)
   * ```
   */
  metrics(): NodeMetrics
}

/**
 * The transports a node gets when none are given: tcp, ws, memory, and quic when its optional package is installed
 * (its native module loads on the first QUIC listen or dial, so a node that never uses QUIC does not pay for it).
 */
export async function defaultTransports(): Promise<TransportFactory[]> {
  const list = [tcp(), ws(), memory()]
  if (isQuicInstalled()) list.push(quic())
  return list
}

/**
 * Creates a node (its key is loaded or created here); call `start()` to listen and join.
 *
 * @example
 * ```ts
 * import { createNode } from '@pnet/node'
 *
 * const node = await createNode({ keyFile: './node.key', listen: ['tcp://0.0.0.0:4001'], join: ['tcp://10.0.0.2:4001'] })
 * node.handle('/pnet/echo', async stream => { await stream.sink(stream.source) })
 * await node.start()
 * console.log(node.id.toString(), node.addrs.map(String))
 * ```
 */
export async function createNode(init: NodeInit): Promise<Node> {
  let key = init.key
  if (key === undefined) {
    if (init.keyFile === undefined) throw new TypeError('createNode needs `key` or `keyFile`')
    key = await loadOrCreateKey(init.keyFile)
  }
  return new NodeImpl({ ...init, transports: init.transports ?? (await defaultTransports()) }, key)
}

interface Wanted {
  addr: Multiaddr
  peer: PeerId | undefined
  attempt: number
  timer: NodeJS.Timeout | undefined
  /** keep redialing even before the first success (join addresses); connect() targets become so once reached */
  persistent: boolean
}

class NodeImpl extends EventEmitter<NodeEvents> implements Node {
  readonly network: Network
  readonly channels: ChannelRegistry
  readonly router: Router
  readonly #init: NodeInit
  readonly #log: Logger
  readonly #reconnect: ReconnectOptions
  readonly #wanted = new Map<string, Wanted>()
  readonly #metrics = new MetricsBook()
  #started = false
  #stopping = false

  constructor(init: NodeInit, key: PrivateKey) {
    super()
    this.#init = init
    this.#reconnect = { ...DEFAULT_RECONNECT, ...init.reconnect }
    const keepalive = { ...DEFAULT_KEEPALIVE, ...init.keepalive }
    const base = init.logger ?? defaultLogger()
    this.network = createNetwork({
      privateKey: key,
      transports: init.transports ?? [tcp()],
      limits: init.limits?.network,
      logger: childLogger(base, { component: 'network' }),
    })
    this.#log = childLogger(base, { component: 'node', peer: this.network.peerId.toString() })
    this.channels = createChannelRegistry({
      localPeer: this.network.peerId,
      logger: childLogger(base, { component: 'channel' }),
      limits: init.limits?.channels,
    })
    this.network.handle(this.channels.accept)
    this.channels.handle(
      PING_PROTOCOL,
      stream => {
        this.#metrics.trackStream(stream, PING_PROTOCOL)
        return servePing(stream)
      },
      { header: false },
    )
    this.router = createRouter({
      network: this.network,
      channels: this.channels,
      metric: init.routing?.metric,
      limits: init.limits?.router,
      timers: {
        helloIntervalMs: keepalive.intervalMs,
        linkTimeoutMs: keepalive.timeoutMs,
        ...init.routing?.timers,
      },
      auth: init.auth,
      credentials: init.credentials,
      logger: childLogger(base, { component: 'router' }),
    })
    this.router.on('route', change => this.emit('route:change', change))
    this.network.on('connection', conn => this.#connected(conn))
    this.network.on('disconnect', (conn, err) => this.#disconnected(conn, err))
  }

  get id(): PeerId {
    return this.network.peerId
  }

  get addrs(): Multiaddr[] {
    return this.network.addrs
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    for (const addr of this.#init.listen ?? []) await this.network.listen(addr)
    const joins = (this.#init.join ?? []).map(addr => this.#want(parseAddress(addr), true))
    await Promise.all(joins.map(w => this.#dial(w).catch(() => undefined)))
    this.#log.info(
      { addrs: this.addrs.map(String), joined: joins.filter(w => w.peer !== undefined).length },
      'node started',
    )
  }

  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    for (const w of this.#wanted.values()) clearTimeout(w.timer)
    const drain = AbortSignal.timeout(options.drainMs ?? DEFAULT_DRAIN_MS)
    // neighbours hear about it first: our routes are retracted before the links go
    await this.router.stop({ signal: drain }).catch(err => this.#log.warn({ err: String(err) }, 'router stop failed'))
    await this.channels.close()
    await this.network.close({ signal: drain })
    this.#log.info('node stopped')
  }

  async connect(input: AddressInput, options: AbortOptions = {}): Promise<PeerId> {
    const w = this.#want(parseAddress(input), false)
    try {
      return await this.#dial(w, options.signal)
    } catch (err) {
      // a first connect that fails is the caller's to retry; only links that once worked are redialed
      if (!w.persistent) this.#forget(w)
      throw err
    }
  }

  async disconnect(peer: PeerId): Promise<void> {
    for (const w of [...this.#wanted.values()]) if (w.peer?.equals(peer) === true) this.#forget(w)
    await Promise.all(this.network.connections(peer).map(c => c.close()))
  }

  handle(name: string, handler: ChannelHandler, options?: HandleOptions): void {
    const channel = channelId(name)
    this.channels.handle(
      channel,
      (stream, ctx) => {
        this.#metrics.trackStream(stream, channel)
        return handler(stream, ctx)
      },
      options,
    )
  }

  unhandle(name: string): boolean {
    return this.channels.unhandle(channelId(name))
  }

  async openStream(peer: PeerId, name: string, options?: OpenStreamOptions): Promise<RoutedStream> {
    const channel = channelId(name)
    const opened = await this.router.openStream(peer, channel, options)
    this.#metrics.trackStream(opened.stream, channel)
    return opened
  }

  async request<T = unknown>(peer: PeerId, name: string, message: unknown, options: RpcOptions = {}): Promise<T> {
    const channel = channelId(name)
    return call<T>(this.#opener(peer, channel, options.signal), channel, message, options)
  }

  async send(peer: PeerId, name: string, message: unknown, options: RpcOptions = {}): Promise<void> {
    const channel = channelId(name)
    await cast(this.#opener(peer, channel, options.signal), channel, message, options)
  }

  callStream<T = unknown>(peer: PeerId, name: string, message: unknown, options: RpcOptions = {}): AsyncGenerator<T> {
    const channel = channelId(name)
    return callStream<T>(this.#opener(peer, channel, options.signal), channel, message, options)
  }

  /** A stream opener for the RPC helpers: a stream on the (direct or relayed) connection to `peer`, counted. */
  #opener(peer: PeerId, channel: string, signal: AbortSignal | undefined) {
    const router = this.router
    const metrics = this.#metrics
    return {
      localPeer: this.id,
      async newStream() {
        const conn = await router.connect(peer, { signal })
        const stream = await conn.newStream({ signal })
        metrics.trackStream(stream, channel)
        return stream
      },
    }
  }

  broadcast(name: string, payload: Uint8Array, options?: BroadcastOptions): Promise<BroadcastReport> {
    return this.router.broadcast(channelId(name), payload, options)
  }

  handleBroadcast(name: string, handler: BroadcastHandler): void {
    this.router.handleBroadcast(channelId(name), handler)
  }

  unhandleBroadcast(name: string): boolean {
    return this.router.unhandleBroadcast(channelId(name))
  }

  peers(): PeerInfo[] {
    const byPeer = new Map<string, Connection[]>()
    for (const conn of this.network.connections()) {
      const key = conn.remotePeer.toString()
      byPeer.set(key, [...(byPeer.get(key) ?? []), conn])
    }
    return [...byPeer.values()].map(conns => {
      const first = conns.reduce((a, b) => (a.stats.opened <= b.stats.opened ? a : b))
      return {
        peer: first.remotePeer,
        addr: first.remoteAddr,
        transport: first.transport,
        direction: first.direction,
        rttMs: conns.map(c => c.rttMs).find(r => r !== undefined),
        since: first.stats.opened,
        connections: conns.length,
      }
    })
  }

  route(peer: PeerId): RouteInfo | undefined {
    return this.router.route(peer)
  }

  waitForRoute(peer: PeerId, options?: WaitForRouteOptions): Promise<RouteInfo> {
    return this.router.waitForRoute(peer, options)
  }

  routes(): RouteInfo[] {
    return this.router.routes()
  }

  reachable(): PeerId[] {
    return this.router.reachable()
  }

  async ping(peer: PeerId, options: PingOptions = {}): Promise<PingReply[]> {
    const count = options.count ?? 1
    const { stream, hops } = await this.router.openStream(peer, PING_PROTOCOL, {
      header: false,
      signal: options.signal,
    })
    this.#metrics.trackStream(stream, PING_PROTOCOL)
    const pinger = new Pinger(stream)
    const replies: PingReply[] = []
    try {
      for (let seq = 1; seq <= count; seq++) {
        options.signal?.throwIfAborted()
        const rttMs = await pinger.ping(options.timeoutMs ?? 5_000)
        const reply = { seq, rttMs, hops }
        replies.push(reply)
        options.onReply?.(reply)
        if (seq < count) await sleep(options.intervalMs ?? 1_000, options.signal)
      }
    } finally {
      await pinger.close()
    }
    return replies
  }

  metrics(): NodeMetrics {
    return this.#metrics.snapshot(
      this.network.connections(),
      this.router.routes().length,
      this.router.reachable().length,
    )
  }

  // ---- neighbours: wanted links and redial

  #want(addr: Multiaddr, persistent: boolean): Wanted {
    const key = addr.toString()
    let w = this.#wanted.get(key)
    if (w === undefined) {
      w = { addr, peer: peerIdOfAddress(addr), attempt: 0, timer: undefined, persistent }
      this.#wanted.set(key, w)
    }
    w.persistent ||= persistent
    return w
  }

  #forget(w: Wanted): void {
    clearTimeout(w.timer)
    this.#wanted.delete(w.addr.toString())
  }

  async #dial(w: Wanted, signal?: AbortSignal): Promise<PeerId> {
    const timeout = AbortSignal.timeout(DIAL_TIMEOUT_MS)
    try {
      const conn = await this.network.dial(w.addr, {
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })
      w.peer = conn.remotePeer
      w.attempt = 0
      w.persistent = true
      return conn.remotePeer
    } catch (err) {
      this.#log.warn(
        { addr: w.addr.toString(), attempt: w.attempt, reason: String((err as Error).message) },
        'dial failed',
      )
      if (w.persistent) this.#redial(w)
      throw err
    }
  }

  #redial(w: Wanted): void {
    if (this.#stopping || w.timer !== undefined || !this.#wanted.has(w.addr.toString())) return
    const delay = backoffDelay(w.attempt++, this.#reconnect)
    w.timer = setTimeout(() => {
      w.timer = undefined
      if (w.peer !== undefined && this.network.connections(w.peer).some(c => c.status === 'open')) return
      void this.#dial(w).catch(() => {})
    }, delay)
    w.timer.unref()
  }

  #connected(conn: Connection): void {
    this.#metrics.connectionOpened(conn)
    if (this.network.connections(conn.remotePeer).length === 1) this.emit('peer:connect', conn.remotePeer)
  }

  #disconnected(conn: Connection, err: Error | undefined): void {
    this.#metrics.connectionClosed(conn)
    const peer = conn.remotePeer
    if (this.network.connections(peer).length > 0) return
    this.emit('peer:disconnect', peer, err)
    if (this.#stopping) return
    for (const w of this.#wanted.values()) {
      if (w.peer?.equals(peer) === true) {
        this.#log.info({ peer: peer.toString(), reason: err?.message }, 'neighbour lost, redialing')
        this.#redial(w)
      }
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(signal.reason)
      },
      { once: true },
    )
  })
}
