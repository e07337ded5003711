/**
 * The upgrade path for byte-stream transports, wire-compatible with libp2p:
 *
 *   multistream-select `/noise` → Noise XX (@chainsafe/libp2p-noise; the payload binds the libp2p identity key)
 *   → muxer: early negotiation inside the Noise payload when both sides offer it, else multistream-select
 *   `/yamux/1.0.0` → yamux
 *
 * The handshake is the libp2p components' (handshake.ts). The data path after it (Noise transport messages and
 * yamux) is our own wire-compatible implementation (noise-channel.ts, yamux/): the stream benchmark showed the
 * libraries' event-driven path at the speed of js-libp2p, a fraction of raw TCP; tests keep the wire compatible with
 * js-libp2p and @chainsafe/libp2p-yamux.
 *
 * A deadline (limits.handshakeTimeoutMs) covers everything up to the muxer; the remote peer ID is checked against the
 * expected one; every failure ends with the raw connection dropped and a typed error naming the address.
 *
 * @example
 * ```ts
 * // inside a transport of your own (see examples/custom-transport)
 * const connection = await components.upgrader.upgradeOutbound(raw, { transport: 'unix', signal })
 * ```
 */
import type { Socket } from 'node:net'
import type { ComponentLogger, MultiaddrConnection, PrivateKey, StreamMuxerFactory } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  AbortError,
  ConnectionClosedError,
  HandshakeError,
  HandshakeTimeoutError,
  messageOf,
  NetworkError,
  UnexpectedPeerError,
  withoutStack,
} from './errors.js'
import { handshake, NOISE_PROTOCOL, noiseStaticKey, signingOnce, YAMUX_PROTOCOL } from './handshake.js'
import type { Connection, Direction, Limits, RawConnection, UpgradeOptions, Upgrader } from './interface.js'
import { libp2pLogger } from './libp2p-logger.js'
import type { Logger } from './logger.js'
import { MuxerSelect } from './mss-lite.js'
import { NoiseChannel } from './noise-channel.js'
import { Buffering, duplexToIO, messageStreamToIO, type RawIO, socketToIO } from './raw-io.js'
import { YamuxSession } from './yamux/session.js'

export { NOISE_PROTOCOL, YAMUX_PROTOCOL }

export interface UpgraderInit {
  privateKey: PrivateKey
  limits: Readonly<Limits>
  logger: Logger
  /** libp2p component logger for the handshake internals (default: @libp2p/logger's when DEBUG is set, else none) */
  componentLogger?: ComponentLogger
}

/** The upgrader behind every byte-stream transport; also takes libp2p MultiaddrConnections and RawIOs. */
export interface StackUpgrader extends Upgrader {
  /** the same upgrade for a libp2p MultiaddrConnection (what @libp2p/tcp produces) */
  upgradeMessageStream(conn: MultiaddrConnection, direction: Direction, options: UpgradeOptions): Promise<Connection>
  /** the same upgrade for a RawIO (the fastest way in) */
  upgradeIO(io: RawIO, direction: Direction, options: UpgradeOptions): Promise<Connection>
}

/** Noise only needs to know which muxers we offer for early negotiation; ours is yamux, implemented in yamux/. */
const OFFERED_MUXERS = new Map<string, StreamMuxerFactory>([
  [
    YAMUX_PROTOCOL,
    {
      protocol: YAMUX_PROTOCOL,
      createStreamMuxer: () => {
        throw new Error('pnet runs its own yamux session')
      },
    },
  ],
])

/**
 * Creates the noise + yamux upgrader for a network identity.
 *
 * @example
 * ```ts
 * const upgrader = createUpgrader({ privateKey, limits: resolveLimits(), logger: silentLogger })
 * const conn = await upgrader.upgradeOutbound(raw, { transport: 'unix' })
 * ```
 */
export function createUpgrader(init: UpgraderInit): StackUpgrader {
  const localPeer = peerIdFromPrivateKey(init.privateKey)
  const componentLogger = init.componentLogger ?? libp2pLogger()
  const staticKey = noiseStaticKey()
  const identity = signingOnce(init.privateKey)

  async function upgradeIO(io: RawIO, direction: Direction, options: UpgradeOptions): Promise<Connection> {
    // only error messages need the address as text: not built for the sockets of a flood that fail early
    const addr = (): string => io.remoteAddr.toString()
    const timeoutMs = init.limits.handshakeTimeoutMs
    // a timer cleared when the upgrade ends, not AbortSignal.timeout(): a connection flood would otherwise keep one
    // live timer (and a signal linked to the caller's) per attempt for the whole timeout, long after the socket died
    const deadline = new AbortController()
    const signal = deadline.signal
    const left = Math.max(0, timeoutMs - (Date.now() - (options.startedAt ?? Date.now())))
    const timer = setTimeout(() => deadline.abort(new DOMException('handshake timed out', 'TimeoutError')), left)
    timer.unref()
    const onAbort = (): void => deadline.abort(options.signal?.reason)
    if (options.signal?.aborted === true) onAbort()
    else options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      // the dialer speaks first: until it does, an inbound socket costs a buffer and a timer, nothing more
      if (direction === 'inbound') await firstBytes(io, signal)
      const hs = await handshake(
        io,
        direction,
        { privateKey: identity, peerId: localPeer, componentLogger, muxers: OFFERED_MUXERS, staticKey },
        signal,
      )
      if (options.remotePeer !== undefined && !options.remotePeer.equals(hs.remotePeer)) {
        throw new UnexpectedPeerError(addr(), options.remotePeer.toString(), hs.remotePeer.toString())
      }
      options.ticket?.bind(hs.remotePeer)
      let session: YamuxSession | undefined
      // decrypted bytes wait here until the muxer negotiation or the session takes them
      let pending: Uint8Array[] = []
      const hold = (pieces: Uint8Array[]): void => {
        pending.push(...pieces)
      }
      let route: (pieces: Uint8Array[]) => void = hold
      // until the session exists, a failure ends the muxer negotiation
      let broken: Error | undefined
      let failSelect: (err: Error) => void = () => {}
      const fail = (err: Error): void => {
        broken ??= err
        if (session !== undefined) session.onTransportEnd(err)
        else failSelect(err)
      }
      const channel = new NoiseChannel({
        io,
        sendKey: hs.sendKey,
        recvKey: hs.recvKey,
        onPlaintext: pieces => route(pieces),
        onError: err => {
          route = () => {}
          if (session !== undefined) session.abort(new HandshakeError(addr(), err.message, { cause: err }))
          else fail(err)
        },
      })
      io.attach({
        data: buf => channel.receive(buf),
        end: () => fail(new ConnectionClosedError(hs.remotePeer.toString(), 'closed by the remote')),
        error: err => fail(err),
        drain: () => session?.onDrain(),
      })
      if (!hs.earlyMuxer) {
        const select = new MuxerSelect(
          YAMUX_PROTOCOL,
          direction,
          bytes => channel.write(bytes),
          addr(),
          rest => {
            route = hold
            pending.push(...rest)
          },
        )
        route = pieces => select.feed(pieces)
        failSelect = err => select.fail(err)
        if (pending.length > 0) {
          const early = pending
          pending = []
          select.feed(early)
        }
        const onAbort = (): void => select.fail(new Error('aborted'))
        signal.addEventListener('abort', onAbort, { once: true })
        await select.done.finally(() => signal.removeEventListener('abort', onAbort))
      }
      if (broken !== undefined) throw broken
      session = new YamuxSession({
        io,
        channel,
        direction,
        localPeer,
        remotePeer: hs.remotePeer,
        remoteAddr: io.remoteAddr,
        transport: options.transport,
        encryption: NOISE_PROTOCOL,
        multiplexer: YAMUX_PROTOCOL,
        limits: init.limits,
        logger: init.logger,
        ticket: options.ticket,
        onStream: options.onStream,
        onClose: options.onClose,
      })
      const live = session
      route = pieces => live.onPlaintext(pieces)
      if (pending.length > 0) live.onPlaintext(pending)
      pending = []
      live.start()
      return live
    } catch (err) {
      const error = classify(err, addr, signal, options.signal, timeoutMs)
      io.destroy(error)
      options.ticket?.release()
      throw error
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  return {
    upgradeIO,
    upgradeMessageStream: (conn, direction, options) => upgradeIO(takeOver(conn), direction, options),
    upgradeOutbound: (raw: RawConnection, options: UpgradeOptions) => upgradeIO(duplexToIO(raw), 'outbound', options),
    upgradeInbound: (raw: RawConnection, options: UpgradeOptions) => upgradeIO(duplexToIO(raw), 'inbound', options),
  }
}

/**
 * Resolves once the remote has sent something (kept for the handshake), rejects if the pipe ends, fails or the signal
 * fires first. A connection flood (connect, close) ends here without building any handshake state or error stack.
 */
function firstBytes(io: RawIO, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const hold = new Buffering()
    let settled = false
    const settle = (err?: Error): void => {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      io.attach(hold) // everything seen so far went into `hold`; the handshake gets it replayed
      if (err === undefined) resolve()
      else reject(err)
    }
    const onAbort = (): void =>
      settle(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)))
    io.attach({
      data: buf => {
        hold.data(buf)
        settle()
      },
      end: () => {
        hold.end()
        settle(withoutStack(() => new HandshakeError(io.remoteAddr.toString(), 'closed before the handshake began')))
      },
      error: err => {
        hold.error(err)
        settle(err)
      },
      drain: () => {},
    })
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * A MultiaddrConnection from a libp2p transport: for @libp2p/tcp we take its socket (no event layers between the
 * socket and the session) and silence the wrapper, which would otherwise buffer every byte; anything else is driven
 * through its MessageStream interface.
 */
function takeOver(conn: MultiaddrConnection): RawIO {
  const socket = (conn as MultiaddrConnection & { socket?: Socket }).socket
  if (socket === undefined || typeof socket.write !== 'function') return messageStreamToIO(conn)
  ;(conn as unknown as { onData: (data: Uint8Array) => void }).onData = () => {}
  return socketToIO(socket, conn.remoteAddr)
}

function classify(
  err: unknown,
  addr: () => string,
  timeout: AbortSignal,
  user: AbortSignal | undefined,
  timeoutMs: number,
): Error {
  if (err instanceof NetworkError) return err
  if (user?.aborted === true) return new AbortError(`handshake with ${addr()}`, { cause: err })
  if (timeout.aborted) return new HandshakeTimeoutError(addr(), timeoutMs)
  return new HandshakeError(addr(), messageOf(err), { cause: err })
}
