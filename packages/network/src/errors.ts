/**
 * Errors of @pnet/network. Each has a stable `name` and `code` to branch on, and a message that names the address
 * or peer involved.
 *
 * @example
 * ```ts
 * try { await network.dial(addr) } catch (err) {
 *   if (err instanceof UnexpectedPeerError) console.error(`${err.expected} was expected, ${err.actual} answered`)
 * }
 * ```
 */

export class NetworkError extends Error {
  /**
   * A string literal in every class, not `new.target.name`: a bundler that renames classes (the agent artifact is
   * one esbuild bundle) must not change what callers branch on. Subclasses narrow it to their own literal.
   */
  override readonly name: string = 'NetworkError'
  /** `ERR_` and UPPER_SNAKE words, as in libp2p; listed in the package README */
  readonly code: string
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** An address that cannot be parsed or used. */
export class InvalidAddressError extends NetworkError {
  override readonly name = 'InvalidAddressError' as const
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`invalid address "${address}": ${reason}`, 'ERR_INVALID_ADDRESS')
  }
}

/** No configured transport can dial or listen on the address. */
export class NoTransportError extends NetworkError {
  override readonly name = 'NoTransportError' as const
  constructor(address: string, available: string[]) {
    super(`no transport handles ${address} (configured: ${available.join(', ') || 'none'})`, 'ERR_NO_TRANSPORT')
  }
}

/** A transport that exists but cannot run here (e.g. an optional native module is missing). */
export class TransportUnavailableError extends NetworkError {
  override readonly name = 'TransportUnavailableError' as const
  constructor(transport: string, reason: string, options?: ErrorOptions) {
    super(`transport ${transport} is unavailable: ${reason}`, 'ERR_TRANSPORT_UNAVAILABLE', options)
  }
}

/** Dialing failed before a connection was established (refused, unreachable, handshake failed). */
export class DialError extends NetworkError {
  override readonly name = 'DialError' as const
  constructor(
    readonly address: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`dial ${address} failed: ${reason}`, 'ERR_DIAL_FAILED', options)
  }
}

/** Listening on an address failed (in use, permission, bad interface). */
export class ListenError extends NetworkError {
  override readonly name = 'ListenError' as const
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(`listen on ${address} failed: ${reason}`, 'ERR_LISTEN_FAILED', options)
  }
}

/** The operation was aborted through its AbortSignal. */
export class AbortError extends NetworkError {
  override readonly name = 'AbortError' as const
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} aborted`, 'ERR_ABORTED', options)
  }
}

/** Someone other than the expected peer completed the handshake. */
export class UnexpectedPeerError extends NetworkError {
  override readonly name = 'UnexpectedPeerError' as const
  constructor(
    readonly address: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`dialed ${address} expecting peer ${expected} but ${actual} answered`, 'ERR_UNEXPECTED_PEER')
  }
}

/** The handshake (multistream-select, Noise, muxer selection) did not finish in time. */
export class HandshakeTimeoutError extends NetworkError {
  override readonly name = 'HandshakeTimeoutError' as const
  constructor(address: string, timeoutMs: number) {
    super(`handshake with ${address} timed out after ${timeoutMs} ms`, 'ERR_HANDSHAKE_TIMEOUT')
  }
}

/** The remote broke the handshake protocol (garbage, unsupported protocol, bad signature). */
export class HandshakeError extends NetworkError {
  override readonly name = 'HandshakeError' as const
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(`handshake with ${address} failed: ${reason}`, 'ERR_HANDSHAKE_FAILED', options)
  }
}

/** The remote broke the muxer protocol after the handshake (bad frame, oversized frame, window exceeded). */
export class ProtocolViolationError extends NetworkError {
  override readonly name = 'ProtocolViolationError' as const
  constructor(peer: string, reason: string, options?: ErrorOptions) {
    super(`peer ${peer} violated the protocol: ${reason}`, 'ERR_PROTOCOL_VIOLATION', options)
  }
}

export class TooManyConnectionsError extends NetworkError {
  override readonly name = 'TooManyConnectionsError' as const
  constructor(address: string, limit: number) {
    super(
      `connection with ${address} refused: ${limit} connections open (limits.maxConnections)`,
      'ERR_TOO_MANY_CONNECTIONS',
    )
  }
}

export class TooManyConnectionsPerPeerError extends NetworkError {
  override readonly name = 'TooManyConnectionsPerPeerError' as const
  constructor(peer: string, limit: number) {
    super(
      `connection with ${peer} refused: already ${limit} connections to this peer (limits.maxConnectionsPerPeer)`,
      'ERR_TOO_MANY_CONNECTIONS_PER_PEER',
    )
  }
}

export class TooManyPendingHandshakesError extends NetworkError {
  override readonly name = 'TooManyPendingHandshakesError' as const
  constructor(address: string, limit: number) {
    super(
      `connection from ${address} dropped: ${limit} handshakes already pending (limits.maxPendingHandshakes)`,
      'ERR_TOO_MANY_PENDING_HANDSHAKES',
    )
  }
}

export class TooManyStreamsError extends NetworkError {
  override readonly name = 'TooManyStreamsError' as const
  constructor(direction: 'inbound' | 'outbound', peer: string, limit: number) {
    const field = direction === 'inbound' ? 'maxInboundStreams' : 'maxOutboundStreams'
    super(`${direction} stream with ${peer} refused: ${limit} streams open (limits.${field})`, 'ERR_TOO_MANY_STREAMS')
  }
}

/** The connection has closed (or is closing); no new streams. */
export class ConnectionClosedError extends NetworkError {
  override readonly name = 'ConnectionClosedError' as const
  constructor(peer: string, reason = 'connection closed', options?: ErrorOptions) {
    super(`connection to ${peer}: ${reason}`, 'ERR_CONNECTION_CLOSED', options)
  }
}

/** The connection carried no stream and no traffic for limits.idleTimeoutMs. */
export class IdleTimeoutError extends NetworkError {
  override readonly name = 'IdleTimeoutError' as const
  constructor(peer: string, ms: number) {
    super(`connection to ${peer} closed after ${ms} ms idle (limits.idleTimeoutMs)`, 'ERR_IDLE_TIMEOUT')
  }
}

/** The remote reset the stream. */
export class StreamResetError extends NetworkError {
  override readonly name = 'StreamResetError' as const
  constructor(peer: string, streamId: string) {
    super(`stream ${streamId} with ${peer} was reset by the remote`, 'ERR_STREAM_RESET')
  }
}

/** The stream was aborted locally, or its connection died under it. */
export class StreamAbortedError extends NetworkError {
  override readonly name = 'StreamAbortedError' as const
  constructor(peer: string, streamId: string, reason: string, options?: ErrorOptions) {
    super(`stream ${streamId} with ${peer} aborted: ${reason}`, 'ERR_STREAM_ABORTED', options)
  }
}

/** A stream operation that its state forbids (second sink, writing after closeWrite). */
export class StreamStateError extends NetworkError {
  override readonly name = 'StreamStateError' as const
  constructor(streamId: string, reason: string) {
    super(`stream ${streamId}: ${reason}`, 'ERR_STREAM_STATE')
  }
}

/** A key file that cannot be read, parsed or written. */
export class KeyFileError extends NetworkError {
  override readonly name = 'KeyFileError' as const
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`key file ${path}: ${reason}`, 'ERR_KEY_FILE', options)
  }
}

/** Message of any thrown value, for log lines and wrapped errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Builds an error without capturing a stack trace. For errors the remote causes on hot paths (a stream reset by the
 * peer, a frame refused, a stream dying with its connection): a flood makes thousands a second, capturing a stack
 * costs ~20 µs each, and it would only show our frame decoder. The message, name, code and cause stay.
 *
 * @example
 * ```ts
 * const err = withoutStack(() => new StreamResetError(peer, streamId))   // err.stack is just "Name: message"
 * ```
 */
export function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}
