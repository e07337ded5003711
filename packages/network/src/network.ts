/**
 * A network: one identity, a set of transports, shared limits, and the connections they carry.
 */
import { EventEmitter } from 'node:events'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type AddressInput, parseAddress, peerIdOfAddress, withoutPeerId, withPeerId } from './address.js'
import { ConnectionClosedError, messageOf, NoTransportError } from './errors.js'
import { createGate } from './gate.js'
import type {
  AbortOptions,
  Connection,
  Limits,
  Listener,
  StreamHandler,
  Transport,
  TransportComponents,
  TransportFactory,
} from './interface.js'
import { resolveLimits } from './limits.js'
import { childLogger, type Logger, silentLogger } from './logger.js'
import { createUpgrader } from './upgrader.js'

export interface NetworkInit {
  privateKey: PrivateKey
  /** e.g. `[tcp(), memory()]`; at least one */
  transports: TransportFactory[]
  limits?: Partial<Limits>
  logger?: Logger
  /** streams the remote opens on any connection; settable later with `handle()` */
  onStream?: StreamHandler
}

export interface NetworkEvents {
  /** a connection finished its handshake (either direction) */
  connection: [Connection]
  /** a connection ended; `err` says why when it was not a graceful close */
  disconnect: [Connection, Error | undefined]
}

export interface Network extends EventEmitter<NetworkEvents> {
  readonly peerId: PeerId
  readonly privateKey: PrivateKey
  readonly limits: Readonly<Limits>
  readonly transports: readonly Transport[]
  /** the addresses being listened on, each ending in `/p2p/<our id>` */
  readonly addrs: Multiaddr[]
  /** Listens on an address (multiaddr or URL shorthand); resolves to the bound addresses with `/p2p/`. */
  listen(addr: AddressInput): Promise<Multiaddr[]>
  /**
   * Dials an address and returns a new connection. A `/p2p/<id>` suffix (or `options.remotePeer`) makes the dial fail
   * with UnexpectedPeerError if anyone else answers.
   */
  dial(addr: AddressInput, options?: AbortOptions & { remotePeer?: PeerId }): Promise<Connection>
  /** open connections, optionally only those to `peer` */
  connections(peer?: PeerId): Connection[]
  /** sets the handler for streams the remote opens (replacing the previous one) */
  handle(handler: StreamHandler | undefined): void
  /** Stops accepting, closes connections gracefully (bounded by the signal, 5 s default), closes transports. */
  close(options?: AbortOptions): Promise<void>
}

/**
 * Creates a network.
 *
 * @example
 * ```ts
 * import { createNetwork, generateKey, tcp } from '@pnet/network'
 *
 * const server = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * server.handle(stream => { void stream.sink(stream.source) })          // echo
 * const [addr] = await server.listen('tcp://127.0.0.1:0')
 *
 * const client = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * const conn = await client.dial(addr!)                                   // noise + yamux, peer checked
 * const stream = await conn.newStream()
 * ```
 */
export function createNetwork(init: NetworkInit): Network {
  return new NetworkImpl(init)
}

class NetworkImpl extends EventEmitter<NetworkEvents> implements Network {
  readonly peerId: PeerId
  readonly privateKey: PrivateKey
  readonly limits: Readonly<Limits>
  readonly transports: readonly Transport[]
  readonly #gate
  readonly #log: Logger
  readonly #listeners: Listener[] = []
  readonly #connections = new Set<Connection>()
  #handler: StreamHandler | undefined
  #closing = false

  constructor(init: NetworkInit) {
    super()
    if (init.transports.length === 0) throw new TypeError('createNetwork needs at least one transport')
    this.privateKey = init.privateKey
    this.peerId = peerIdFromPrivateKey(init.privateKey)
    this.limits = resolveLimits(init.limits)
    this.#log = childLogger(init.logger ?? silentLogger, { peer: this.peerId.toString() })
    this.#handler = init.onStream
    this.#gate = createGate(this.limits)
    const components: TransportComponents = {
      privateKey: this.privateKey,
      peerId: this.peerId,
      upgrader: createUpgrader({ privateKey: this.privateKey, limits: this.limits, logger: this.#log }),
      gate: this.#gate,
      limits: this.limits,
      logger: this.#log,
    }
    this.transports = init.transports.map(factory => factory(components))
  }

  get addrs(): Multiaddr[] {
    return this.#listeners.flatMap(l => l.addrs.map(a => withPeerId(a, this.peerId)))
  }

  handle(handler: StreamHandler | undefined): void {
    this.#handler = handler
  }

  #transportFor(addr: Multiaddr): Transport {
    const transport = this.transports.find(t => t.handles(addr))
    if (transport === undefined) {
      throw new NoTransportError(
        addr.toString(),
        this.transports.map(t => t.name),
      )
    }
    return transport
  }

  readonly #onStream: StreamHandler = (stream, connection) => {
    const handler = this.#handler
    if (handler === undefined) {
      stream.abort(new Error('no stream handler'))
      return
    }
    handler(stream, connection)
  }

  readonly #onClose = (connection: Connection, err?: Error): void => {
    if (!this.#connections.delete(connection)) return
    this.#log.debug(
      { remote: connection.remotePeer.toString(), transport: connection.transport, reason: err?.message },
      'disconnected',
    )
    this.emit('disconnect', connection, err)
  }

  #adopt(connection: Connection): void {
    if (connection.status !== 'open') return
    this.#connections.add(connection)
    this.#log.debug(
      { remote: connection.remotePeer.toString(), transport: connection.transport, direction: connection.direction },
      'connected',
    )
    this.emit('connection', connection)
  }

  async listen(input: AddressInput): Promise<Multiaddr[]> {
    if (this.#closing) throw new ConnectionClosedError(String(input), 'network is closed')
    const addr = withoutPeerId(parseAddress(input))
    const listener = await this.#transportFor(addr).listen(addr, {
      onConnection: conn => this.#adopt(conn),
      onStream: this.#onStream,
      onClose: this.#onClose,
    })
    this.#listeners.push(listener)
    const bound = listener.addrs.map(a => withPeerId(a, this.peerId))
    this.#log.info({ addrs: bound.map(String) }, 'listening')
    return bound
  }

  async dial(input: AddressInput, options: AbortOptions & { remotePeer?: PeerId } = {}): Promise<Connection> {
    if (this.#closing) throw new ConnectionClosedError(String(input), 'network is closed')
    const full = parseAddress(input)
    const remotePeer = options.remotePeer ?? peerIdOfAddress(full)
    const addr = withoutPeerId(full)
    const connection = await this.#transportFor(addr).dial(addr, {
      signal: options.signal,
      remotePeer,
      onStream: this.#onStream,
      onClose: this.#onClose,
    })
    this.#adopt(connection)
    return connection
  }

  connections(peer?: PeerId): Connection[] {
    return [...this.#connections].filter(c => peer === undefined || c.remotePeer.equals(peer))
  }

  async close(options: AbortOptions = {}): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#gate.shut()
    // without a signal each connection applies its own bounded drain (DEFAULT_CLOSE_TIMEOUT_MS)
    const signal = options.signal
    await Promise.all(
      [...this.#connections].map(c => c.close({ signal }).catch(() => c.abort(new Error('close failed')))),
    )
    await Promise.all(
      this.#listeners.map(l =>
        l.close().catch(err => this.#log.warn({ err: messageOf(err) }, 'listener close failed')),
      ),
    )
    this.#listeners.length = 0
    await Promise.all(this.transports.map(t => t.close?.()))
  }
}
