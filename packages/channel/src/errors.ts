/**
 * Errors of @pnet/channel. Each has a stable `name` and `code` to branch on, and a message that names the channel
 * and the peer involved. The handshake outcomes a callee can send are `NO_SUCH_CHANNEL`, `VERSION_UNSUPPORTED`,
 * `UNAUTHORIZED`, `OVERLOADED`, `HANDSHAKE_TIMEOUT` and `PROTOCOL_ERROR`.
 *
 * @example
 * ```ts
 * try { await openChannel(stream, '/pnet/echo', { versions: { min: 2, max: 3 } }) } catch (err) {
 *   if (err instanceof VersionUnsupportedError) console.error('callee speaks', err.supported)
 *   else if (err instanceof ChannelError && err.code === 'ERR_UNAUTHORIZED') console.error(err.reason)
 * }
 * ```
 */
import type { VersionRange } from './versions.js'

export type ChannelErrorCode =
  | 'ERR_NO_SUCH_CHANNEL'
  | 'ERR_VERSION_UNSUPPORTED'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_OVERLOADED'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_PROTOCOL_ERROR'
  | 'ERR_ABORTED'
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_REMOTE_ERROR'
  | 'ERR_DUPLICATE_CHANNEL'
  | 'ERR_UNSUPPORTED_REQUEST'

export class ChannelError extends Error {
  /** a string literal in every class, so that a bundler renaming classes does not change it */
  override readonly name: string = 'ChannelError'
  readonly code: ChannelErrorCode
  /** the channel (protocol ID) involved */
  readonly channel: string
  /** the remote peer ID as a string, or '' when unknown */
  readonly peer: string
  constructor(message: string, code: ChannelErrorCode, channel: string, peer: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.channel = channel
    this.peer = peer
  }
}

function on(channel: string, peer: string): string {
  return peer === '' ? `channel ${channel}` : `channel ${channel} on ${peer}`
}

/** The callee has no handler for the channel (multistream-select answered `na`). */
export class NoSuchChannelError extends ChannelError {
  override readonly name = 'NoSuchChannelError' as const
  constructor(channel: string, peer: string) {
    super(`peer ${peer} has no channel ${channel}`, 'ERR_NO_SUCH_CHANNEL', channel, peer)
  }
}

/** No version in the offered range is supported; `supported` lists what the callee speaks. */
export class VersionUnsupportedError extends ChannelError {
  override readonly name = 'VersionUnsupportedError' as const
  constructor(
    channel: string,
    peer: string,
    readonly offered: VersionRange,
    readonly supported: readonly VersionRange[],
  ) {
    super(
      `${on(channel, peer)} supports versions ${formatRanges(supported)}, not ${formatRanges([offered])}`,
      'ERR_VERSION_UNSUPPORTED',
      channel,
      peer,
    )
  }
}

/** The callee's auth policy refused the caller; `reason` is what the policy said. */
export class UnauthorizedError extends ChannelError {
  override readonly name = 'UnauthorizedError' as const
  constructor(
    channel: string,
    peer: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${on(channel, peer)} refused access: ${reason}`, 'ERR_UNAUTHORIZED', channel, peer, options)
  }
}

/** The channel is at its concurrency limit (`maxConcurrent`). */
export class OverloadedError extends ChannelError {
  override readonly name = 'OverloadedError' as const
  constructor(
    channel: string,
    peer: string,
    readonly reason = 'too many concurrent streams',
  ) {
    super(`${on(channel, peer)} is overloaded: ${reason}`, 'ERR_OVERLOADED', channel, peer)
  }
}

/** The handshake did not finish in time (on either side). */
export class ChannelHandshakeTimeoutError extends ChannelError {
  override readonly name = 'ChannelHandshakeTimeoutError' as const
  constructor(
    channel: string,
    peer: string,
    readonly timeoutMs?: number,
  ) {
    const after = timeoutMs === undefined ? '' : ` after ${timeoutMs} ms`
    super(`handshake for ${on(channel, peer)} timed out${after}`, 'ERR_HANDSHAKE_TIMEOUT', channel, peer)
  }
}

/** The remote broke the channel protocol: malformed or oversized frame, unexpected message. */
export class ChannelProtocolError extends ChannelError {
  override readonly name = 'ChannelProtocolError' as const
  constructor(
    channel: string,
    peer: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${on(channel, peer)}: protocol error: ${reason}`, 'ERR_PROTOCOL_ERROR', channel, peer, options)
  }
}

/** The caller's AbortSignal fired. */
export class ChannelAbortedError extends ChannelError {
  override readonly name = 'ChannelAbortedError' as const
  constructor(channel: string, peer: string, options?: ErrorOptions) {
    const why = options?.cause === undefined ? '' : ` (${messageOf(options.cause)})`
    super(`${on(channel, peer)}: aborted${why}`, 'ERR_ABORTED', channel, peer, options)
  }
}

/** The stream ended (closed or reset by the remote, or the connection died) before the exchange finished. */
export class ChannelClosedError extends ChannelError {
  override readonly name = 'ChannelClosedError' as const
  constructor(channel: string, peer: string, reason: string, options?: ErrorOptions) {
    super(`${on(channel, peer)}: ${reason}`, 'ERR_CHANNEL_CLOSED', channel, peer, options)
  }
}

/** A message bigger than the limit, refused before sending or cut off on read. */
export class MessageTooLargeError extends ChannelError {
  override readonly name = 'MessageTooLargeError' as const
  constructor(
    channel: string,
    peer: string,
    readonly size: number,
    readonly limit: number,
    /** `send`: refused before it left; `receive`: cut off on read */
    readonly direction: 'send' | 'receive',
  ) {
    const verb = direction === 'send' ? 'refused to send' : 'received'
    super(
      `${on(channel, peer)}: ${verb} a message of ${size} bytes, over the limit of ${limit}`,
      'ERR_MESSAGE_TOO_LARGE',
      channel,
      peer,
    )
  }
}

/**
 * An error thrown by the remote handler, as the remote named it. No stack crosses the wire: `remoteName` and
 * `message` are all there is (plus `remoteCode` when the remote error had a string `code`).
 */
export class RemoteError extends ChannelError {
  override readonly name = 'RemoteError' as const
  constructor(
    channel: string,
    peer: string,
    readonly remoteName: string,
    readonly remoteMessage: string,
    readonly remoteCode?: string,
  ) {
    super(`${on(channel, peer)}: remote ${remoteName}: ${remoteMessage}`, 'ERR_REMOTE_ERROR', channel, peer)
  }
}

/** An RPC request of a kind (call, cast, stream) the channel's handler does not serve. */
export class UnsupportedRequestError extends ChannelError {
  override readonly name = 'UnsupportedRequestError' as const
  constructor(
    channel: string,
    peer: string,
    /** what was asked for: `calls`, `casts` or `streams` */
    readonly kind: 'calls' | 'casts' | 'streams',
  ) {
    super(`${on(channel, peer)}: the channel does not take ${kind}`, 'ERR_UNSUPPORTED_REQUEST', channel, peer)
  }
}

/** `handle()` for a channel that already has a handler. */
export class DuplicateChannelError extends ChannelError {
  override readonly name = 'DuplicateChannelError' as const
  constructor(channel: string) {
    super(`channel ${channel} is already handled (unhandle it first)`, 'ERR_DUPLICATE_CHANNEL', channel, '')
  }
}

/** `1-3, 5` */
export function formatRanges(ranges: readonly VersionRange[]): string {
  if (ranges.length === 0) return 'none'
  return ranges.map(r => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(', ')
}

/** Message of any thrown value, for log lines and wrapped errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Any thrown value as an Error. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
