/**
 * The one interface every transport implements and every layer above imports: Transport, Listener, Connection,
 * Stream. Implementations depend on this file, never on each other.
 *
 * Streaming model: a {@link Stream} is a duplex of bytes, an async-iterable `source` and a `sink` that consumes an
 * (async) iterable — the it-* model, so `pipe(source, stream, sink)` from it-pipe works. Backpressure comes from the
 * iterators: a reader that stops pulling from `source` stalls the remote writer (through the muxer's flow control),
 * and `sink` pulls the next chunk only when the transport can take it.
 *
 * @example
 * ```ts
 * import type { Stream } from '@pnet/network'
 * async function echo (stream: Stream): Promise<void> {
 *   await stream.sink(stream.source)   // every byte read is written back; then our write side closes
 * }
 * ```
 */

import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Logger } from './logger.js'

export type { Multiaddr, PeerId, PrivateKey }

/** Every async operation takes a signal and stops promptly when it fires. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** What a sink accepts: byte chunks from a sync or async iterable. */
export type Source<T> = AsyncIterable<T> | Iterable<T>

/** A chunk written to a stream: a buffer or a list of buffers (written in order, without joining). */
export type Chunk = Uint8Array | Uint8ArrayList

export type Direction = 'inbound' | 'outbound'

/**
 * `open`: usable (one direction may already be closed, see readStatus/writeStatus); `closed`: both directions ended
 * gracefully; `aborted`: ended locally with an error; `reset`: the remote reset it.
 */
export type StreamStatus = 'open' | 'closed' | 'aborted' | 'reset'
export type HalfStatus = 'open' | 'closed'

export interface StreamStats {
  /** payload bytes read from the remote */
  bytesIn: number
  /** payload bytes written to the remote */
  bytesOut: number
  /** epoch ms */
  opened: number
  /** epoch ms, once status is no longer `open` */
  closed?: number
}

/** A bidirectional byte stream inside a Connection, with half-close. */
export interface Stream {
  /** unique within its connection */
  readonly id: string
  readonly direction: Direction
  /** the peer at the far end (authenticated by the connection's handshake) */
  readonly remotePeer: PeerId
  /**
   * Bytes from the remote, in order. Ends when the remote closes its write side; throws if the stream is reset or
   * aborted. May be iterated once. Not reading stalls the remote writer instead of growing memory.
   */
  readonly source: AsyncIterable<Uint8Array>
  /**
   * Writes every chunk of `source`, waiting for the transport to take each one, then closes the write side.
   * If `source` throws, the stream is aborted with that error. May be called once.
   */
  sink(source: Source<Chunk>): Promise<void>
  /** Half-close: tell the remote no more bytes will come; reading continues. Idempotent. */
  closeWrite(options?: AbortOptions): Promise<void>
  /** Graceful close: close the write side and stop reading (unread data is discarded). */
  close(options?: AbortOptions): Promise<void>
  /** Close both directions at once and reset the remote end. */
  abort(err: Error): void
  readonly status: StreamStatus
  readonly readStatus: HalfStatus
  readonly writeStatus: HalfStatus
  readonly stats: Readonly<StreamStats>
  /** Resolves once the stream has ended in both directions: with the error that ended it, or undefined. */
  readonly closed: Promise<Error | undefined>
  /** Free-form labels set by upper layers (e.g. the channel name); counted in metrics. */
  readonly labels: Record<string, string>
}

export type ConnectionStatus = 'open' | 'closing' | 'closed'

export interface ConnectionStats {
  /** epoch ms */
  opened: number
  closed?: number
  /** bytes received/sent on the wire, framing and encryption included */
  bytesIn: number
  bytesOut: number
  streamsInbound: number
  streamsOutbound: number
  /** currently open streams */
  openStreams: number
}

/** A secured, multiplexed connection to one authenticated peer. */
export interface Connection {
  readonly id: string
  readonly direction: Direction
  readonly localPeer: PeerId
  readonly remotePeer: PeerId
  /** the address dialed (outbound) or the address the remote came from (inbound) */
  readonly remoteAddr: Multiaddr
  /** name of the transport that carries it, e.g. `tcp` */
  readonly transport: string
  /** e.g. `/noise`, or `tls` for QUIC */
  readonly encryption: string
  /** e.g. `/yamux/1.0.0`, or `quic` for native streams */
  readonly multiplexer: string
  readonly status: ConnectionStatus
  readonly stats: Readonly<ConnectionStats>
  /** last measured round-trip time in ms (muxer pings), undefined until measured or where the muxer cannot */
  readonly rttMs: number | undefined
  /** streams currently open */
  readonly streams: readonly Stream[]
  /** Opens an outbound stream. Fails with TooManyStreamsError past the outbound limit. */
  newStream(options?: AbortOptions): Promise<Stream>
  /** Graceful close: waits (bounded by the signal) for open streams to finish, then closes. */
  close(options?: AbortOptions): Promise<void>
  /** Immediate close: every stream is reset. */
  abort(err: Error): void
  /**
   * Stops reading from the remote: nothing more it sends is processed, and TCP and muxer flow control soon stop it
   * sending. The connection keeps its slot until closed or aborted. For a peer that must not be served but would
   * come straight back if cut off (a tarpit: cutting it would cost us a handshake per reconnect). Connections whose
   * transport cannot stop reading (QUIC) are aborted with `reason` instead.
   */
  mute(reason: Error): void
  /** Resolves when the connection is closed, with the error that closed it, if any. */
  readonly closed: Promise<Error | undefined>
}

/** Called for each stream the remote opens. The handler owns the stream from then on. */
export type StreamHandler = (stream: Stream, connection: Connection) => void

/** Callbacks given when a connection is created, so no event can be missed. */
export interface ConnectionHandlers {
  /** inbound streams; without a handler they are reset */
  onStream?: StreamHandler
  /** once, when the connection ends */
  onClose?: (connection: Connection, err?: Error) => void
}

export interface DialOptions extends AbortOptions, ConnectionHandlers {
  /** expected remote peer; taken from a `/p2p/<id>` suffix of the address when absent */
  remotePeer?: PeerId
}

export interface ListenOptions extends ConnectionHandlers {
  /** every connection accepted by this listener, after its handshake */
  onConnection: (connection: Connection) => void
  /** an inbound connection that failed before it was handed out (bad handshake, limit hit) */
  onConnectionError?: (err: Error, remoteAddr: Multiaddr | undefined) => void
}

/** A bound listening endpoint. */
export interface Listener {
  /** addresses actually bound (a port 0 resolved to the real port), without `/p2p/` */
  readonly addrs: Multiaddr[]
  /** Stops accepting and closes the connections this listener accepted. */
  close(): Promise<void>
}

/** A way to carry connections: tcp, quic, ws, memory or your own. */
export interface Transport {
  /** short name shown in metrics and `peers()`, e.g. `tcp` */
  readonly name: string
  /** true when this transport can dial or listen on `addr` */
  handles(addr: Multiaddr): boolean
  dial(addr: Multiaddr, options: DialOptions): Promise<Connection>
  listen(addr: Multiaddr, options: ListenOptions): Promise<Listener>
  /** releases shared resources (sockets, hubs); listeners should be closed first */
  close?(): Promise<void>
}

/** What a transport gets from the network it is plugged into. */
export interface TransportComponents {
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  /** noise + yamux for byte-stream transports */
  readonly upgrader: Upgrader
  /** admission control shared by all transports of one network */
  readonly gate: ConnectionGate
  readonly limits: Readonly<Limits>
  readonly logger: Logger
}

/** Builds a transport once the network's identity and limits are known, e.g. `tcp()`. */
export type TransportFactory = (components: TransportComponents) => Transport

/**
 * A byte pipe before security: what a byte-stream transport (tcp, ws, a unix socket, a child's stdio) hands to the
 * upgrader. The upgrader runs multistream-select, Noise and yamux over it.
 */
export interface RawConnection {
  readonly remoteAddr: Multiaddr
  readonly source: AsyncIterable<Uint8Array | Uint8ArrayList>
  sink(source: AsyncIterable<Uint8Array>): Promise<void>
  /** graceful close of both directions */
  close(): Promise<void>
  abort(err: Error): void
}

export interface UpgradeOptions extends AbortOptions, ConnectionHandlers {
  /** transport name recorded on the connection */
  transport: string
  /** the remote must prove this identity or the upgrade fails with UnexpectedPeerError */
  remotePeer?: PeerId
  /** the admission ticket from {@link ConnectionGate.admit}, released when the connection ends */
  ticket?: AdmissionTicket
  /**
   * When the connection arrived (`Date.now()`), if the transport waited before upgrading it (e.g. for its first
   * byte): `limits.handshakeTimeoutMs` counts from there. Default: now.
   */
  startedAt?: number
}

/** Secures and multiplexes a raw byte connection: multistream-select → /noise → multistream-select → /yamux/1.0.0. */
export interface Upgrader {
  upgradeOutbound(raw: RawConnection, options: UpgradeOptions): Promise<Connection>
  upgradeInbound(raw: RawConnection, options: UpgradeOptions): Promise<Connection>
}

/** Admission control: connection counts, per-peer counts and pending handshakes, across all transports. */
export interface ConnectionGate {
  /**
   * Reserves a connection slot before the handshake. Throws TooManyConnectionsError or
   * TooManyPendingHandshakesError (inbound only) when full; the caller then drops the raw connection. The address
   * only names the remote in errors: pass a function when building it costs more than admitting (a flood).
   */
  admit(direction: Direction, remoteAddr: Multiaddr | (() => Multiaddr)): AdmissionTicket
  /**
   * False when `admit` would refuse now (connection count, pending handshakes; the per-peer limit is checked at
   * bind). A cheap check a transport can make before building anything for a new socket: under a connection flood
   * most sockets are refused, and each thing built for them is garbage a moment later.
   */
  admits?(direction: Direction): boolean
}

export interface AdmissionTicket {
  /** Marks the handshake done and checks the per-peer limit (throws TooManyConnectionsPerPeerError). */
  bind(remotePeer: PeerId): void
  /** Frees the slot; safe to call more than once. */
  release(): void
}

/** Limits of one network; every field has a default in `DEFAULT_LIMITS` (see limits.ts). */
export interface Limits {
  /** open connections, all transports, both directions */
  maxConnections: number
  /** open connections to one peer */
  maxConnectionsPerPeer: number
  /** streams the remote may have open on one connection; a peer that keeps opening past it is cut off */
  maxInboundStreams: number
  /** streams we may have open on one connection */
  maxOutboundStreams: number
  /** ms for multistream-select + Noise + muxer selection */
  handshakeTimeoutMs: number
  /** ms a connection may stay without open streams and without traffic; 0 disables */
  idleTimeoutMs: number
  /** inbound connections allowed to be mid-handshake at once */
  maxPendingHandshakes: number
  /** bytes a stream buffers for a reader that is not reading before the remote is paused */
  streamReadBufferBytes: number
}
