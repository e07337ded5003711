/**
 * TCP transport: dialing through @libp2p/tcp, listening on a plain net.Server (tcp-listener.ts); every socket is
 * upgraded with our noise + yamux upgrader.
 *
 * Addresses: `/ip4/…/tcp/PORT`, `/ip6/…/tcp/PORT`, `/dns/NAME/tcp/PORT` (or `tcp://host:port`).
 *
 * @example
 * ```ts
 * const network = createNetwork({ privateKey, transports: [tcp()] })
 * await network.listen('tcp://127.0.0.1:0')
 * ```
 */
import type { Connection as Libp2pConnection, Upgrader as Libp2pUpgrader, MultiaddrConnection } from '@libp2p/interface'
import { tcp as libp2pTcp, type TCPDialOptions as TcpDialOptions } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { AbortError, DialError, messageOf, NetworkError } from '../errors.js'
import type {
  Connection,
  DialOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportComponents,
  TransportFactory,
} from '../interface.js'
import { libp2pLogger } from '../libp2p-logger.js'
import { deadPeerTimeoutMs } from '../limits.js'
import type { StackUpgrader } from '../upgrader.js'
import { isStackUpgrader } from './shared.js'
import { listenTcp } from './tcp-listener.js'

export interface TcpInit {
  /** listen backlog (default: Node's) */
  backlog?: number
  /** Nagle off (default true): small RPC messages go out at once */
  noDelay?: boolean
}

/**
 * The TCP transport.
 *
 * @example
 * ```ts
 * createNetwork({ privateKey, transports: [tcp({ backlog: 1024 })] })
 * ```
 */
export function tcp(init: TcpInit = {}): TransportFactory {
  return components => new TcpTransport(components, init)
}

class TcpTransport implements Transport {
  readonly name = 'tcp'
  readonly #components: TransportComponents
  readonly #upgrader: StackUpgrader
  readonly #lib: ReturnType<ReturnType<typeof libp2pTcp>>
  readonly #init: TcpInit

  constructor(components: TransportComponents, init: TcpInit) {
    if (!isStackUpgrader(components.upgrader)) {
      throw new TypeError('tcp() needs the upgrader created by createNetwork()/createUpgrader()')
    }
    this.#components = components
    this.#upgrader = components.upgrader
    this.#init = init
    // Socket-level inactivity is only a safety net for dead peers (yamux pings every 30 s keep live links busy);
    // the idle policy itself is the connection's (limits.idleTimeoutMs), so this timer must never fire first.
    const deadPeerMs = deadPeerTimeoutMs(components.limits)
    this.#lib = libp2pTcp({
      backlog: init.backlog,
      inboundSocketInactivityTimeout: deadPeerMs,
      outboundSocketInactivityTimeout: deadPeerMs,
    })({ logger: libp2pLogger() })
  }

  handles(addr: Multiaddr): boolean {
    return TCP.exactMatch(addr)
  }

  async dial(addr: Multiaddr, options: DialOptions): Promise<Connection> {
    const shown = addr.toString()
    const ticket = this.#components.gate.admit('outbound', addr)
    let result: Connection | undefined
    const shim = {
      upgradeOutbound: async (maConn: MultiaddrConnection) => {
        result = await this.#upgrader.upgradeMessageStream(maConn, 'outbound', {
          ...options,
          transport: this.name,
          ticket,
        })
        return result as unknown as Libp2pConnection
      },
    } as unknown as Libp2pUpgrader
    // @libp2p/tcp hands its dial options to net.connect, which ties the socket's whole life to `signal`: the
    // caller's signal (often AbortSignal.timeout) must bound the dial only, so the socket gets one that is
    // aborted only while the dial is in progress
    const dialOnly = new AbortController()
    const forward = (): void => dialOnly.abort(options.signal?.reason)
    if (options.signal?.aborted === true) forward()
    else options.signal?.addEventListener('abort', forward, { once: true })
    try {
      await this.#lib.dial(addr, {
        signal: dialOnly.signal,
        upgrader: shim,
        noDelay: this.#init.noDelay ?? true,
      } as TcpDialOptions)
    } catch (err) {
      ticket.release()
      if (err instanceof NetworkError) throw err
      if (options.signal?.aborted === true) throw new AbortError(`dial ${shown}`, { cause: err })
      throw new DialError(shown, messageOf(err), { cause: err })
    } finally {
      options.signal?.removeEventListener('abort', forward)
    }
    if (result === undefined) throw new DialError(shown, 'upgrade produced no connection')
    return result
  }

  listen(addr: Multiaddr, options: ListenOptions): Promise<Listener> {
    // our own listener (tcp-listener.ts): sockets go to the upgrader without @libp2p/tcp's per-socket wrapper
    return listenTcp(
      {
        addr,
        backlog: this.#init.backlog,
        noDelay: this.#init.noDelay ?? true,
        inactivityTimeoutMs: deadPeerTimeoutMs(this.#components.limits),
        handshakeTimeoutMs: this.#components.limits.handshakeTimeoutMs,
        upgrader: this.#upgrader,
        gate: this.#components.gate,
        logger: this.#components.logger,
        transport: this.name,
      },
      options,
    )
  }
}
