/**
 * The upgrade path for byte-stream transports, wire-compatible with libp2p:
 *
 *   multistream-select `/noise` → Noise XX (@chainsafe/libp2p-noise; the payload binds the libp2p identity key)
 *   → muxer: early negotiation inside the Noise payload when both sides offer it, else multistream-select
 *   `/yamux/1.0.0` → yamux (@chainsafe/libp2p-yamux)
 *
 * A deadline (limits.handshakeTimeoutMs) covers everything up to the muxer; the remote peer ID is checked against the
 * expected one; every failure ends with the raw connection aborted and a typed error naming the address.
 *
 * @example
 * ```ts
 * // inside a transport of your own (see examples/custom-transport)
 * const connection = await components.upgrader.upgradeOutbound(raw, { transport: 'unix', signal })
 * ```
 */
import { type NoiseExtensions, noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type {
  ComponentLogger,
  ConnectionEncrypter,
  Upgrader as Libp2pUpgrader,
  MessageStream,
  MultiaddrConnection,
  PeerId,
  PrivateKey,
  StreamMuxerFactory,
} from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { handle as mssHandle, select as mssSelect } from '@libp2p/multistream-select'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MuxedConnection } from './connection.js'
import { rawToMessageStream } from './duplex-connection.js'
import {
  AbortError,
  ConnectionClosedError,
  HandshakeError,
  HandshakeTimeoutError,
  messageOf,
  NetworkError,
  UnexpectedPeerError,
} from './errors.js'
import type { Connection, Direction, Limits, RawConnection, UpgradeOptions, Upgrader } from './interface.js'
import { MAX_STREAM_WINDOW_BYTES } from './limits.js'
import type { Logger } from './logger.js'
import { fastNoiseCrypto } from './noise-crypto.js'
import { guardYamuxFrames } from './yamux-guard.js'

export const NOISE_PROTOCOL = '/noise'
export const YAMUX_PROTOCOL = '/yamux/1.0.0'

export interface UpgraderInit {
  privateKey: PrivateKey
  limits: Readonly<Limits>
  logger: Logger
  /** libp2p component logger for the noise/yamux internals (debug-based, silent unless DEBUG is set) */
  componentLogger?: ComponentLogger
}

/** The upgrader behind every byte-stream transport; also works on libp2p MultiaddrConnections. */
export interface StackUpgrader extends Upgrader {
  /** the same upgrade for a libp2p MultiaddrConnection (what @libp2p/tcp produces) */
  upgradeMessageStream(conn: MultiaddrConnection, direction: Direction, options: UpgradeOptions): Promise<Connection>
}

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
  const peerId = peerIdFromPrivateKey(init.privateKey)
  const logger = init.componentLogger ?? defaultLogger()
  const muxerFactory: StreamMuxerFactory = yamux({
    maxInboundStreams: Number.MAX_SAFE_INTEGER, // counted (and enforced with strikes) by MuxedConnection
    maxOutboundStreams: Number.MAX_SAFE_INTEGER,
    maxEarlyStreams: 1024,
    streamOptions: {
      maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES,
      // yamux may deliver up to one window after we pause; keep the inner buffer above that so pausing never errors
      maxReadBufferLength: MAX_STREAM_WINDOW_BYTES * 2,
      inactivityTimeout: 0,
    },
  })()
  // Noise only needs the upgrader to look up muxers for early negotiation.
  const libp2pUpgrader = {
    getStreamMuxers: () => new Map([[YAMUX_PROTOCOL, muxerFactory]]),
  } as unknown as Libp2pUpgrader
  const encrypter: ConnectionEncrypter<NoiseExtensions> = noise({ crypto: fastNoiseCrypto })({
    peerId,
    privateKey: init.privateKey,
    logger,
    upgrader: libp2pUpgrader,
  })

  async function upgrade(
    maConn: MultiaddrConnection,
    direction: Direction,
    options: UpgradeOptions,
  ): Promise<Connection> {
    const addr = maConn.remoteAddr.toString()
    const timeoutMs = init.limits.handshakeTimeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    const wire = { bytesIn: 0, bytesOut: 0 }
    countWireBytes(maConn, wire)
    try {
      if (direction === 'outbound') await mssSelect(maConn, NOISE_PROTOCOL, { signal })
      else await mssHandle(maConn, NOISE_PROTOCOL, { signal })
      const secured =
        direction === 'outbound'
          ? await encrypter.secureOutbound(maConn, { signal })
          : await encrypter.secureInbound(maConn, { signal })
      const remotePeer: PeerId = secured.remotePeer
      if (options.remotePeer !== undefined && !options.remotePeer.equals(remotePeer)) {
        throw new UnexpectedPeerError(addr, options.remotePeer.toString(), remotePeer.toString())
      }
      let factory = secured.streamMuxer
      const channel: MessageStream = secured.connection
      if (factory === undefined) {
        if (direction === 'outbound') await mssSelect(channel, YAMUX_PROTOCOL, { signal })
        else await mssHandle(channel, YAMUX_PROTOCOL, { signal })
        factory = muxerFactory
      }
      if (channel.status !== 'open' || maConn.status !== 'open') {
        throw new ConnectionClosedError(remotePeer.toString(), 'closed by the remote during the handshake')
      }
      options.ticket?.bind(remotePeer)
      guardYamuxFrames(channel, remotePeer.toString())
      const muxer = factory.createStreamMuxer(channel)
      const connection = new MuxedConnection({
        direction,
        localPeer: peerId,
        remotePeer,
        remoteAddr: maConn.remoteAddr,
        transport: options.transport,
        encryption: NOISE_PROTOCOL,
        secured: channel,
        raw: maConn,
        muxer,
        limits: init.limits,
        logger: init.logger,
        ticket: options.ticket,
        wire,
        onStream: options.onStream,
        onClose: options.onClose,
      })
      return connection
    } catch (err) {
      const error = classify(err, addr, timeout, options.signal, timeoutMs)
      maConn.abort(error)
      options.ticket?.release()
      throw error
    }
  }

  return {
    upgradeMessageStream: upgrade,
    upgradeOutbound: (raw: RawConnection, options: UpgradeOptions) =>
      upgrade(rawToMessageStream(raw, 'outbound'), 'outbound', options),
    upgradeInbound: (raw: RawConnection, options: UpgradeOptions) =>
      upgrade(rawToMessageStream(raw, 'inbound'), 'inbound', options),
  }
}

function classify(
  err: unknown,
  addr: string,
  timeout: AbortSignal,
  user: AbortSignal | undefined,
  timeoutMs: number,
): Error {
  if (err instanceof NetworkError) return err
  if (user?.aborted === true) return new AbortError(`handshake with ${addr}`, { cause: err })
  if (timeout.aborted) return new HandshakeTimeoutError(addr, timeoutMs)
  return new HandshakeError(addr, messageOf(err), { cause: err })
}

/** Counts bytes on the wire (framing and encryption included) for Connection.stats. */
function countWireBytes(conn: MessageStream, wire: { bytesIn: number; bytesOut: number }): void {
  conn.addEventListener('message', evt => {
    wire.bytesIn += evt.data.byteLength
  })
  const send = conn.send.bind(conn)
  conn.send = data => {
    wire.bytesOut += data.byteLength
    return send(data)
  }
}
