/**
 * multistream-select 1.0.0, the message level: each message is a varint-length-prefixed UTF-8 string ending in
 * `\n`. The dialogue itself (who sends what when) lives in open.ts (caller) and registry.ts (callee).
 */
import { MAX_CHANNEL_NAME_BYTES } from './limits.js'
import { lengthPrefixed, utf8Bytes, WireError } from './wire.js'

export const MULTISTREAM_PROTOCOL = '/multistream/1.0.0'
export const NA = 'na'

const NEWLINE = 0x0a
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const common = new Map<string, Uint8Array>()

/**
 * A channel name as users write it, made a protocol ID: one starting with `/` (`/pnet/chat/1`, `/ipfs/ping/1.0.0`)
 * is kept; a short name such as `echo` means `/pnet/echo`. Every layer takes both (registry, openChannel, call, cast,
 * callStream; the router's and the node's methods), so a short name means the same channel everywhere.
 *
 * @example
 * ```ts
 * channelId('echo')          // '/pnet/echo'
 * channelId('/pnet/echo')    // '/pnet/echo'
 * ```
 */
export function channelId(name: string): string {
  return typeof name === 'string' && !name.startsWith('/') && name !== '' ? `/pnet/${name}` : name
}

/** One multistream message on the wire: varint length, the string, `\n`. */
export function multistreamMessage(text: string): Uint8Array {
  // the header and "na" are sent on every stream: encode them once (callers never mutate the result)
  const cached = common.get(text)
  if (cached !== undefined) return cached
  const bytes = lengthPrefixed(utf8Bytes(`${text}\n`))
  if (text === MULTISTREAM_PROTOCOL || text === NA) common.set(text, bytes)
  return bytes
}

/** The text of a multistream message payload (length prefix already removed), or WireError. */
export function parseMultistreamMessage(payload: Uint8Array): string {
  if (payload.byteLength === 0 || payload[payload.byteLength - 1] !== NEWLINE) {
    throw new WireError('multistream message does not end with a newline')
  }
  try {
    return strictUtf8.decode(payload.subarray(0, payload.byteLength - 1))
  } catch {
    throw new WireError('multistream message is not valid UTF-8')
  }
}

/** True when a payload ends with the multistream newline (a proposal rather than a pnet frame). */
export function looksLikeMultistream(payload: Uint8Array): boolean {
  return payload.byteLength > 0 && payload[payload.byteLength - 1] === NEWLINE
}

/**
 * Throws TypeError unless `name` can be a channel: a protocol ID that starts with `/`, is at most 1023 UTF-8 bytes
 * and has no control characters (so no newline). pnet's own channels live under `/pnet/`.
 */
export function checkChannelName(name: string): string {
  if (typeof name !== 'string' || !name.startsWith('/')) {
    throw new TypeError(`channel name ${JSON.stringify(name)} must be a protocol ID starting with "/"`)
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new TypeError(`channel name ${JSON.stringify(name)} contains a control character`)
  }
  if (Buffer.byteLength(name) > MAX_CHANNEL_NAME_BYTES) {
    throw new TypeError(`channel name is longer than ${MAX_CHANNEL_NAME_BYTES} bytes: ${name.slice(0, 40)}…`)
  }
  if (name === MULTISTREAM_PROTOCOL) throw new TypeError(`${MULTISTREAM_PROTOCOL} cannot be a channel name`)
  return name
}
