/**
 * The calling side: select a channel on a fresh stream, run the header exchange, hand back the stream.
 *
 * Round trips: one. The multistream header, the proposal and the pnet HELLO leave in one write; the callee answers
 * header, echo and ACCEPT (or REJECT) in one write. A challenge (psk) adds one more. With `earlyData` and no
 * challenge-capable credential, the first application bytes ride along with the HELLO too.
 */
import type { AbortOptions, Chunk, PeerId, Stream } from '@pnet/network'
import type { Credential, CredentialContext } from './auth.js'
import { ChannelStream } from './channel-stream.js'
import { deadline, within } from './deadline.js'
import {
  ChannelAbortedError,
  ChannelClosedError,
  ChannelError,
  ChannelHandshakeTimeoutError,
  ChannelProtocolError,
  messageOf,
  NoSuchChannelError,
  OverloadedError,
  UnauthorizedError,
  VersionUnsupportedError,
} from './errors.js'
import { checkScheme, decodeHeaderFrame, encodeHeaderFrame, FLAG_EARLY_DATA, type Reject } from './header.js'
import { StreamReader, StreamWriter } from './io.js'
import {
  DEFAULT_CHANNEL_LIMITS,
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_CHALLENGES,
  MAX_CREDENTIAL_BYTES,
  MAX_HEADER_FRAME_BYTES,
  MAX_MESSAGE_BYTES_CAP,
  MAX_MULTISTREAM_MESSAGE_BYTES,
  REJECT_LINGER_MS,
} from './limits.js'
import { checkMetadata, type Metadata } from './metadata.js'
import {
  channelId,
  checkChannelName,
  MULTISTREAM_PROTOCOL,
  multistreamMessage,
  NA,
  parseMultistreamMessage,
} from './multistream.js'
import { offerRange, type VersionOffer, type VersionRange } from './versions.js'
import { lengthPrefixed, nonce, WireError } from './wire.js'

export interface OpenChannelOptions extends AbortOptions {
  /** version or range offered (default 1); the callee picks the highest it supports */
  versions?: VersionOffer
  /** sent to the callee (at most 32 entries; keys printable ASCII ≤ 64 bytes, values ≤ 1024 bytes) */
  metadata?: Metadata
  /** proofs for the callee's auth policy: presharedKeyCredential(), capabilityCredential(), your own */
  credentials?: readonly Credential[]
  /** our own peer ID; psk needs it (the RPC helpers take it from the connection) */
  localPeer?: PeerId
  /** ms for the whole handshake (default 10 s); then ChannelHandshakeTimeoutError */
  timeoutMs?: number
  /** false for plain libp2p protocols (e.g. `/ipfs/ping/1.0.0`): selection only, no pnet header */
  header?: boolean
  /** the largest message we accept, announced to the callee (default 1 MiB) */
  maxMessageSize?: number
  /**
   * Bytes written right after the header: in the first write when no challenge can follow (saves a round trip),
   * else right after ACCEPT. Discarded by the callee if it rejects.
   */
  earlyData?: Chunk
}

export interface OpenedChannel {
  /** the stream, positioned after the handshake */
  readonly stream: Stream
  /** the protocol ID selected (one of the names offered) */
  readonly protocol: string
  /** the version the callee chose; 0 for channels without a header */
  readonly version: number
  /** the callee's metadata */
  readonly metadata: Metadata
  /** the largest message we read (what we announced) */
  readonly maxMessageSize: number
  /** the largest message the callee reads; 0 when unknown (no header) */
  readonly remoteMaxMessageSize: number
}

/** Throws RangeError unless `size` can be a message limit. */
export function checkMessageSize(size: number, what = 'maxMessageSize'): number {
  if (!Number.isInteger(size) || size < 1 || size > MAX_MESSAGE_BYTES_CAP) {
    throw new RangeError(`${what} must be an integer from 1 to ${MAX_MESSAGE_BYTES_CAP}, got ${String(size)}`)
  }
  return size
}

/** The typed error for a REJECT frame. */
export function rejectionError(frame: Reject, channel: string, peer: string, offered: VersionRange): ChannelError {
  switch (frame.code) {
    case 'NO_SUCH_CHANNEL':
      return new NoSuchChannelError(channel, peer)
    case 'VERSION_UNSUPPORTED':
      return new VersionUnsupportedError(channel, peer, offered, frame.supported)
    case 'UNAUTHORIZED':
      return new UnauthorizedError(channel, peer, frame.reason)
    case 'OVERLOADED':
      return new OverloadedError(channel, peer, frame.reason)
    case 'HANDSHAKE_TIMEOUT':
      return new ChannelHandshakeTimeoutError(channel, peer)
    case 'PROTOCOL_ERROR':
      return new ChannelProtocolError(channel, peer, `the callee says: ${frame.reason}`)
  }
}

/**
 * Opens a channel on a new stream: multistream-select, then (unless `header: false`) the pnet header exchange.
 * Resolves once the callee accepted; rejects with NoSuchChannelError, VersionUnsupportedError, UnauthorizedError,
 * OverloadedError, ChannelHandshakeTimeoutError, ChannelProtocolError, ChannelClosedError or ChannelAbortedError,
 * each naming the channel and the peer. On failure the stream is closed.
 *
 * @example
 * ```ts
 * const stream = await connection.newStream()
 * const ch = await openChannel(stream, '/pnet/chat', { versions: { min: 1, max: 2 }, metadata: { nick: 'ada' } })
 * console.log(ch.version, ch.metadata)          // what the callee chose and said
 * await ch.stream.sink([new TextEncoder().encode('hello')])
 * ```
 */
export async function openChannel(
  stream: Stream,
  name: string | readonly string[],
  options: OpenChannelOptions = {},
): Promise<OpenedChannel> {
  const names = (typeof name === 'string' ? [name] : [...name]).map(n => checkChannelName(channelId(n)))
  if (names.length === 0) throw new TypeError('openChannel needs a channel name')
  const header = options.header ?? true
  if (header && names.length > 1) {
    throw new TypeError('a channel with a pnet header is opened by one name; offer a version range instead')
  }
  const offered = offerRange(options.versions)
  const metadata = checkMetadata(options.metadata)
  const maxMessageSize = checkMessageSize(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES)
  const credentials = options.credentials ?? []
  const schemes = new Set<string>()
  for (const c of credentials) {
    if (schemes.has(checkScheme(c.scheme))) throw new TypeError(`two credentials for scheme ${c.scheme}`)
    schemes.add(c.scheme)
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHANNEL_LIMITS.handshakeTimeoutMs
  const limit = deadline(timeoutMs, options.signal)
  const signal = limit.signal
  const peer = stream.remotePeer.toString()

  const reader = new StreamReader(stream.source)
  const writer = new StreamWriter(stream)
  reader.beforeWait = () => {
    writer.flush().catch(() => {})
  }
  let channel = names[0]!
  try {
    const callerNonce = nonce()
    const credCtx: CredentialContext = {
      channel,
      localPeer: options.localPeer,
      remotePeer: stream.remotePeer,
      callerNonce,
      signal,
    }
    writer.push(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage(channel))
    let early = false
    if (header) {
      const offeredCredentials = new Map<string, Uint8Array>()
      for (const c of credentials) {
        const bytes = c.present === undefined ? undefined : await c.present(credCtx)
        if (bytes === undefined) continue
        if (bytes.byteLength > MAX_CREDENTIAL_BYTES) {
          throw new RangeError(`credential ${c.scheme} is ${bytes.byteLength} bytes, over ${MAX_CREDENTIAL_BYTES}`)
        }
        offeredCredentials.set(c.scheme, bytes)
      }
      early = options.earlyData !== undefined && !credentials.some(c => c.respond !== undefined)
      const hello = encodeHeaderFrame({
        type: 'hello',
        flags: early ? FLAG_EARLY_DATA : 0,
        versions: offered,
        nonce: callerNonce,
        maxMessageSize,
        metadata,
        credentials: offeredCredentials,
      })
      if (hello.byteLength > MAX_HEADER_FRAME_BYTES) {
        throw new RangeError(`header is ${hello.byteLength} bytes, over ${MAX_HEADER_FRAME_BYTES}: less metadata`)
      }
      writer.push(lengthPrefixed(hello))
      if (early) writer.push(options.earlyData!)
    }

    const readMultistream = async (): Promise<string> => {
      const payload = await reader.readFrame(MAX_MULTISTREAM_MESSAGE_BYTES, signal)
      if (payload === undefined) {
        throw new ChannelClosedError(channel, peer, 'the callee closed the stream during protocol selection')
      }
      return parseMultistreamMessage(payload)
    }
    const first = await readMultistream()
    if (first !== MULTISTREAM_PROTOCOL) {
      throw new ChannelProtocolError(channel, peer, `expected ${MULTISTREAM_PROTOCOL}, got ${JSON.stringify(first)}`)
    }
    for (let i = 0; ; ) {
      const answer = await readMultistream()
      if (answer === channel) break
      if (answer !== NA) {
        throw new ChannelProtocolError(
          channel,
          peer,
          `proposed ${channel}, the callee answered ${JSON.stringify(answer)}`,
        )
      }
      if (++i >= names.length) throw new NoSuchChannelError(names.join(' or '), peer)
      channel = names[i]!
      writer.push(multistreamMessage(channel))
    }
    stream.labels.channel = channel

    if (!header) {
      if (options.earlyData !== undefined) {
        writer.push(options.earlyData)
        writer.flush().catch(() => {})
      }
      return {
        stream: new ChannelStream(stream, reader, writer),
        protocol: channel,
        version: 0,
        metadata: Object.freeze({}),
        maxMessageSize,
        remoteMaxMessageSize: 0,
      }
    }

    let challenges = 0
    while (true) {
      const payload = await reader.readFrame(MAX_HEADER_FRAME_BYTES, signal)
      if (payload === undefined) {
        throw new ChannelClosedError(channel, peer, 'the callee closed the stream during the header exchange')
      }
      const frame = decodeHeaderFrame(payload)
      if (frame.type === 'accept') {
        if (frame.version < offered.min || frame.version > offered.max) {
          throw new ChannelProtocolError(
            channel,
            peer,
            `the callee chose version ${frame.version}, which was not offered`,
          )
        }
        if (options.earlyData !== undefined && !early) writer.push(options.earlyData)
        writer.flush().catch(() => {})
        stream.labels['channel.version'] = String(frame.version)
        return {
          stream: new ChannelStream(stream, reader, writer),
          protocol: channel,
          version: frame.version,
          metadata: frame.metadata,
          maxMessageSize,
          remoteMaxMessageSize: frame.maxMessageSize,
        }
      }
      if (frame.type === 'reject') throw rejectionError(frame, channel, peer, offered)
      if (frame.type !== 'challenge') {
        throw new ChannelProtocolError(channel, peer, `unexpected ${frame.type.toUpperCase()} frame from the callee`)
      }
      if (++challenges > MAX_CHALLENGES) {
        throw new ChannelProtocolError(channel, peer, `more than ${MAX_CHALLENGES} challenges`)
      }
      const credential = credentials.find(c => c.scheme === frame.scheme && c.respond !== undefined)
      // without a credential for the scheme we decline with an empty answer, so anyOf() policies can move on
      const answer = credential === undefined ? new Uint8Array(0) : await credential.respond!(frame.payload, credCtx)
      if (answer.byteLength > MAX_CREDENTIAL_BYTES) throw new RangeError(`${frame.scheme} answer is too large`)
      writer.push(lengthPrefixed(encodeHeaderFrame({ type: 'proof', scheme: frame.scheme, answer })))
    }
  } catch (err) {
    const error = classify(err, channel, peer, options.signal, limit.expired, timeoutMs)
    if (error instanceof ChannelError && isOutcome(error)) {
      // the callee decided and is closing: close our side politely
      reader.stop()
      writer.end().catch(() => {})
      within(REJECT_LINGER_MS, s => stream.close({ signal: s })).catch(() => stream.abort(error))
    } else {
      stream.abort(error)
    }
    throw error
  } finally {
    limit.clear()
  }
}

function isOutcome(err: ChannelError): boolean {
  return (
    err.code === 'ERR_NO_SUCH_CHANNEL' ||
    err.code === 'ERR_VERSION_UNSUPPORTED' ||
    err.code === 'ERR_UNAUTHORIZED' ||
    err.code === 'ERR_OVERLOADED'
  )
}

function classify(
  err: unknown,
  channel: string,
  peer: string,
  user: AbortSignal | undefined,
  expired: boolean,
  timeoutMs: number,
): Error {
  if (err instanceof ChannelError) return err
  if (user?.aborted === true) return new ChannelAbortedError(channel, peer, { cause: user.reason })
  if (expired) return new ChannelHandshakeTimeoutError(channel, peer, timeoutMs)
  if (err instanceof WireError) return new ChannelProtocolError(channel, peer, err.message, { cause: err })
  if (err instanceof TypeError || err instanceof RangeError) return err
  return new ChannelClosedError(channel, peer, `stream failed during the handshake: ${messageOf(err)}`, { cause: err })
}
