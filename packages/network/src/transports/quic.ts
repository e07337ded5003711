/**
 * QUIC transport on @chainsafe/libp2p-quic 2.x: QUIC v1 with libp2p TLS (the certificate binds the libp2p identity
 * key), QUIC's own streams as the multiplexer. Wire-compatible with js-, go- and rust-libp2p QUIC.
 *
 * Addresses: `/ip4/…/udp/PORT/quic-v1`, `/ip6/…/udp/PORT/quic-v1`, `/dns/NAME/udp/PORT/quic-v1` (or `quic://host:port`).
 *
 * @chainsafe/libp2p-quic is a native module and an optional dependency: without it `@pnet/network` works, and
 * `quic()` fails with a TransportUnavailableError that says how to install it.
 *
 * The libp2p QUIC transport hands each connection, already secured, to the libp2p upgrader with `skipEncryption` and
 * a muxer factory bound to the native connection. Here that upgrader is a shim that builds our MuxedConnection
 * instead, so admission tickets, stream limits, the idle timeout and the peer check apply as on every transport.
 *
 * @example
 * ```ts
 * const network = createNetwork({ privateKey, transports: [quic(), tcp()] })
 * await network.listen('quic://0.0.0.0:4001')
 * ```
 */
import { lookup } from 'node:dns/promises'
import { createRequire } from 'node:module'
import type {
  Connection as Libp2pConnection,
  Transport as Libp2pTransport,
  Upgrader as Libp2pUpgrader,
  MultiaddrConnection,
  PeerId,
} from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { QUIC_V1 } from '@multiformats/multiaddr-matcher'
import { withoutPeerId } from '../address.js'
import { MuxedConnection } from '../connection.js'
import {
  AbortError,
  DialError,
  HandshakeTimeoutError,
  ListenError,
  messageOf,
  NetworkError,
  TransportUnavailableError,
  UnexpectedPeerError,
} from '../errors.js'
import type {
  AdmissionTicket,
  Connection,
  ConnectionHandlers,
  DialOptions,
  Direction,
  Listener,
  ListenOptions,
  Transport,
  TransportComponents,
  TransportFactory,
} from '../interface.js'
import { libp2pLogger } from '../libp2p-logger.js'
import { logThrottled } from '../logger.js'
import { type NativeQuicConnection, QuicStreamMuxer } from './quic-streams.js'

const QUIC_PACKAGE = '@chainsafe/libp2p-quic'

export interface QuicInit {
  /** ms without a packet from the peer before the connection is declared dead (QUIC max_idle_timeout); 10 000 */
  maxIdleTimeoutMs?: number
  /** ms between keep-alive packets on a quiet connection; keep it below the peer's idle timeout; 5 000 */
  keepAliveIntervalMs?: number
  /** receive window of one stream, bytes (how much the remote may send before we read); 10 000 000 */
  maxStreamData?: number
  /** receive window of the whole connection, bytes; 15 000 000 */
  maxConnectionData?: number
}

type QuicLib = typeof import('@chainsafe/libp2p-quic')

/**
 * The QUIC transport.
 *
 * @example
 * ```ts
 * createNetwork({ privateKey, transports: [quic({ maxIdleTimeoutMs: 30_000 })] })
 * ```
 */
export function quic(init: QuicInit = {}): TransportFactory {
  return components => new QuicTransport(components, init)
}

/**
 * Whether the QUIC transport's optional package is installed, without loading its native module (cheap: a node that
 * lists `quic()` loads it on its first QUIC listen or dial, and a module that cannot load fails there, with the
 * install hint).
 *
 * @example
 * ```ts
 * const transports = [tcp(), ...(isQuicInstalled() ? [quic()] : [])]
 * ```
 */
export function isQuicInstalled(): boolean {
  try {
    assertInstalled()
    return true
  } catch {
    return false
  }
}

/**
 * Whether the QUIC transport can run here (its optional native package is installed and loads).
 *
 * @example
 * ```ts
 * const transports = [tcp(), ...((await isQuicAvailable()) ? [quic()] : [])]
 * ```
 */
export async function isQuicAvailable(): Promise<boolean> {
  try {
    assertInstalled()
    await loadQuic()
    return true
  } catch {
    return false
  }
}

function installHint(): string {
  let version = '2'
  try {
    const pkg = createRequire(import.meta.url)('../../package.json') as {
      optionalDependencies?: Record<string, string>
    }
    version = pkg.optionalDependencies?.[QUIC_PACKAGE] ?? version
  } catch {}
  return (
    `install it with \`npm install ${QUIC_PACKAGE}@${version}\` (needs Node >= 22 and a prebuilt binary: ` +
    'linux x64/arm64 (glibc or musl), macOS x64/arm64, Windows x64)'
  )
}

/** Fails fast, while the network is being created, when the package is not installed at all. */
function assertInstalled(): void {
  if (typeof import.meta.resolve !== 'function') return // resolution is checked by the import instead
  try {
    import.meta.resolve(QUIC_PACKAGE)
  } catch (err) {
    throw new TransportUnavailableError(
      'quic',
      `the optional package ${QUIC_PACKAGE} is not installed; ${installHint()}`,
      { cause: err },
    )
  }
}

let loading: Promise<QuicLib> | undefined

function loadQuic(): Promise<QuicLib> {
  loading ??= import('@chainsafe/libp2p-quic').catch((err: unknown) => {
    loading = undefined
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && messageOf(err).includes(QUIC_PACKAGE)
    throw new TransportUnavailableError(
      'quic',
      missing
        ? `the optional package ${QUIC_PACKAGE} is not installed; ${installHint()}`
        : `${QUIC_PACKAGE} did not load on ${process.platform}-${process.arch} (${firstSentence(messageOf(err))}); ${installHint()}`,
      { cause: err },
    )
  })
  return loading
}

function firstSentence(text: string): string {
  return /^.*?(?:\.(?=\s)|$)/s.exec(text)?.[0] ?? text
}

/** What the libp2p QUIC transport passes to upgradeInbound/upgradeOutbound. */
interface QuicUpgradeOptions {
  remotePeer?: PeerId
  signal?: AbortSignal
  muxerFactory?: { init?: { connection?: NativeQuicConnection } }
}

class QuicTransport implements Transport {
  readonly name = 'quic'
  readonly #components: TransportComponents
  readonly #init: QuicInit
  /** the native module is loaded on first listen/dial: a node that never uses QUIC does not pay its memory or threads */
  #loaded: Promise<Libp2pTransport> | undefined

  constructor(components: TransportComponents, init: QuicInit) {
    assertInstalled()
    this.#components = components
    this.#init = init
  }

  #lib(): Promise<Libp2pTransport> {
    const { limits, privateKey } = this.#components
    const init = this.#init
    this.#loaded ??= loadQuic().then(lib =>
      lib.quic({
        handshakeTimeout: limits.handshakeTimeoutMs,
        maxIdleTimeout: init.maxIdleTimeoutMs ?? lib.defaultOptions.maxIdleTimeout,
        keepAliveInterval: init.keepAliveIntervalMs ?? lib.defaultOptions.keepAliveInterval,
        // QUIC's stream credit enforces the inbound limit: a peer cannot open more, it waits
        maxConcurrentStreamLimit: limits.maxInboundStreams,
        maxStreamData: init.maxStreamData ?? lib.defaultOptions.maxStreamData,
        maxConnectionData: init.maxConnectionData ?? lib.defaultOptions.maxConnectionData,
      })({ privateKey, logger: libp2pLogger() }),
    )
    return this.#loaded
  }

  handles(addr: Multiaddr): boolean {
    return QUIC_V1.exactMatch(addr)
  }

  async dial(addr: Multiaddr, options: DialOptions): Promise<Connection> {
    const shown = addr.toString()
    const lib = await this.#lib()
    const signal = options.signal
    if (signal?.aborted === true) throw new AbortError(`dial ${shown}`)
    const target = await resolveHost(addr).catch((err: unknown) => {
      throw new DialError(shown, `cannot resolve the host: ${messageOf(err)}`, { cause: err })
    })
    const ticket = this.#components.gate.admit('outbound', addr)
    const timeoutMs = this.#components.limits.handshakeTimeoutMs
    const outcome = deferred<Connection>()
    let gaveUp = false
    const giveUp = (err: Error): void => {
      gaveUp = true
      outcome.reject(err)
    }
    const shim = {
      upgradeOutbound: async (maConn: MultiaddrConnection, opts: QuicUpgradeOptions) => {
        try {
          if (gaveUp) throw new AbortError(`dial ${shown}`) // too late: the caller has moved on
          const connection = this.#adopt(maConn, opts, 'outbound', ticket, options, shown)
          outcome.resolve(connection)
          return connection as unknown as Libp2pConnection
        } catch (err) {
          outcome.reject(err)
          throw err // the libp2p transport closes the QUIC connection
        }
      },
    } as unknown as Libp2pUpgrader
    // The native dial takes no signal and ends only at QUIC's idle timeout, so the deadline and the caller's
    // signal are enforced here; a handshake that completes after either is closed by the shim above.
    lib
      .dial(target, { signal: new AbortController().signal, upgrader: shim })
      .catch((err: unknown) => outcome.reject(err))
    const timer = setTimeout(() => giveUp(new HandshakeTimeoutError(shown, timeoutMs)), timeoutMs)
    const onAbort = (): void => giveUp(new AbortError(`dial ${shown}`))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await outcome.promise
    } catch (err) {
      gaveUp = true
      ticket.release()
      if (err instanceof NetworkError) throw err
      throw new DialError(shown, messageOf(err), { cause: err })
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async listen(addr: Multiaddr, options: ListenOptions): Promise<Listener> {
    const lib = await this.#lib()
    const { gate, logger } = this.#components
    const shim = {
      upgradeInbound: async (maConn: MultiaddrConnection, opts: QuicUpgradeOptions) => {
        const remote = maConn.remoteAddr.toString()
        let ticket: AdmissionTicket
        try {
          ticket = gate.admit('inbound', maConn.remoteAddr)
        } catch (err) {
          logThrottled(logger, 'warn', { remote, reason: messageOf(err) }, 'inbound connection refused')
          options.onConnectionError?.(err as Error, maConn.remoteAddr)
          throw err // the libp2p listener closes the QUIC connection
        }
        try {
          options.onConnection(this.#adopt(maConn, opts, 'inbound', ticket, options, remote))
        } catch (err) {
          ticket.release()
          logThrottled(logger, 'info', { remote, reason: messageOf(err) }, 'inbound connection failed')
          options.onConnectionError?.(err as Error, maConn.remoteAddr)
          throw err
        }
      },
    } as unknown as Libp2pUpgrader
    const listener = lib.createListener({ upgrader: shim })
    try {
      await listener.listen(await resolveHost(addr))
    } catch (err) {
      if (err instanceof NetworkError) throw err
      throw new ListenError(addr.toString(), messageOf(err), { cause: err })
    }
    return {
      get addrs() {
        return listener.getAddrs()
      },
      close: () => listener.close(),
    }
  }

  /** A QUIC connection (TLS done, peer known) becomes our Connection on QUIC's native streams. */
  #adopt(
    maConn: MultiaddrConnection,
    opts: QuicUpgradeOptions,
    direction: Direction,
    ticket: AdmissionTicket,
    handlers: ConnectionHandlers & { remotePeer?: PeerId },
    shown: string,
  ): Connection {
    const native = opts.muxerFactory?.init?.connection
    const remotePeer = opts.remotePeer
    if (native === undefined || typeof native.inboundStream !== 'function' || remotePeer === undefined) {
      throw new TransportUnavailableError(
        'quic',
        `unsupported ${QUIC_PACKAGE} version (no native connection handed over)`,
      )
    }
    if (handlers.remotePeer !== undefined && !handlers.remotePeer.equals(remotePeer)) {
      throw new UnexpectedPeerError(shown, handlers.remotePeer.toString(), remotePeer.toString())
    }
    ticket.bind(remotePeer) // throws TooManyConnectionsPerPeerError
    const components = this.#components
    const muxer = new QuicStreamMuxer(native, maConn, maConn.log.newScope('pnet'))
    const wire = quicWireCounters(native)
    return new MuxedConnection({
      direction,
      localPeer: components.peerId,
      remotePeer,
      remoteAddr: withoutPeerId(maConn.remoteAddr),
      transport: this.name,
      encryption: 'tls',
      secured: maConn,
      raw: maConn,
      muxer,
      limits: components.limits,
      logger: components.logger,
      ticket,
      wire,
      onStream: handlers.onStream,
      onClose: handlers.onClose,
    })
  }

  async close(): Promise<void> {
    const lib = await this.#loaded?.catch(() => undefined)
    await (lib as { stop?: () => Promise<void> } | undefined)?.stop?.()
  }
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** UDP bytes on the wire, read from quinn's counters (kept once the connection is gone). */
function quicWireCounters(native: NativeQuicConnection): { bytesIn: number; bytesOut: number } {
  let last = { bytesIn: 0, bytesOut: 0 }
  const read = (): typeof last => {
    try {
      const s = native.stats()
      last = { bytesIn: s.udpRxBytes, bytesOut: s.udpTxBytes }
    } catch {}
    return last
  }
  return {
    get bytesIn() {
      return read().bytesIn
    },
    get bytesOut() {
      return read().bytesOut
    },
  }
}

/** The native module takes IP addresses only: `/dns…` names are looked up here. */
async function resolveHost(addr: Multiaddr): Promise<Multiaddr> {
  const [host, ...rest] = addr.getComponents()
  if (host?.value === undefined || !['dns', 'dns4', 'dns6'].includes(host.name)) return addr
  const found = await lookup(host.value, { family: host.name === 'dns4' ? 4 : host.name === 'dns6' ? 6 : 0 })
  return multiaddr(`/ip${found.family}/${found.address}`).encapsulate(multiaddr(rest))
}
