/**
 * Relay protocol frames (docs/protocol/router.md, "Relay"): OPEN travels from the source towards the destination,
 * one hop at a time; STATUS comes back from whichever node answers (a relay that refuses, or the destination).
 * After an OK status the stream carries opaque bytes: the end-to-end Noise handshake and the connection it secures.
 */
import { Reader, Writer } from './bytes.js'
import { MalformedMessageError, type RelayRefusal } from './errors.js'
import { MAX_RELAY_REASON_BYTES } from './limits.js'
import { MAX_PEER_ID_BYTES, type PeerKey, peerKeyFromBytes } from './peer-key.js'

export const RELAY_OPEN = 0x01
export const RELAY_STATUS = 0x02

/**
 * Largest relay frame (OPEN or STATUS) accepted: a STATUS with the longest peer ID and the longest reason
 * (kind, code, and a 2-byte varint length before each of the two).
 */
export const MAX_RELAY_FRAME_BYTES = 2 + (2 + MAX_PEER_ID_BYTES) + (2 + MAX_RELAY_REASON_BYTES)

/** Status codes on the wire; 0 is OK, the rest are refusals. */
export const RELAY_STATUS_CODES: Readonly<Record<'OK' | RelayRefusal, number>> = Object.freeze({
  OK: 0,
  NO_ROUTE: 1,
  HOP_LIMIT: 2,
  TOO_MANY_RELAYED: 3,
  TOO_MANY_CONNECTIONS: 4,
  LOOP: 5,
  MALFORMED: 6,
  NEXT_HOP_FAILED: 7,
  STOPPING: 8,
})

const CODE_NAMES = new Map(Object.entries(RELAY_STATUS_CODES).map(([k, v]) => [v, k as 'OK' | RelayRefusal]))

export interface RelayOpen {
  source: PeerKey
  destination: PeerKey
  /** hops this stream may still take; a relay receiving 1 cannot forward it */
  hopLimit: number
}

export interface RelayStatus {
  code: 'OK' | RelayRefusal
  /** the node that answered */
  by: PeerKey
  reason: string
}

/**
 * OPEN's payload (without the frame length).
 *
 * @example
 * ```ts
 * const frame = lengthPrefixed(encodeRelayOpen({ source, destination, hopLimit: 8 }))
 * ```
 */
export function encodeRelayOpen(open: RelayOpen): Uint8Array {
  return new Writer(8 + open.source.bytes.byteLength + open.destination.bytes.byteLength)
    .u8(RELAY_OPEN)
    .lp(open.source.bytes)
    .lp(open.destination.bytes)
    .u16(open.hopLimit)
    .finish()
}

/** Parses OPEN's payload; throws MalformedMessageError naming the bad field. */
export function decodeRelayOpen(frame: Uint8Array): RelayOpen {
  const r = new Reader(frame, 'relay OPEN')
  const kind = r.u8('kind')
  if (kind !== RELAY_OPEN) throw new MalformedMessageError('relay OPEN', `kind 0x${kind.toString(16)}`)
  const source = key(r.lp('source', MAX_PEER_ID_BYTES), 'source')
  const destination = key(r.lp('destination', MAX_PEER_ID_BYTES), 'destination')
  const hopLimit = r.u16('hop limit')
  r.end()
  return { source, destination, hopLimit }
}

/**
 * STATUS's payload; a reason over MAX_RELAY_REASON_BYTES is cut at a word boundary and ends in `…`.
 *
 * @example
 * ```ts
 * encodeRelayStatus({ code: 'NO_ROUTE', by: self, reason: 'no route to …' })
 * ```
 */
export function encodeRelayStatus(status: RelayStatus): Uint8Array {
  const reason = cutAtWord(status.reason, MAX_RELAY_REASON_BYTES)
  return new Writer(8 + status.by.bytes.byteLength + reason.byteLength)
    .u8(RELAY_STATUS)
    .u8(RELAY_STATUS_CODES[status.code])
    .lp(status.by.bytes)
    .lp(reason)
    .finish()
}

/** Parses STATUS's payload; throws MalformedMessageError on an unknown code or a bad field. */
export function decodeRelayStatus(frame: Uint8Array): RelayStatus {
  const r = new Reader(frame, 'relay STATUS')
  const kind = r.u8('kind')
  if (kind !== RELAY_STATUS) throw new MalformedMessageError('relay STATUS', `kind 0x${kind.toString(16)}`)
  const n = r.u8('code')
  const code = CODE_NAMES.get(n)
  if (code === undefined) throw new MalformedMessageError('relay STATUS', `unknown code ${n}`)
  const by = key(r.lp('by', MAX_PEER_ID_BYTES), 'by')
  const reason = r.string('reason', MAX_RELAY_REASON_BYTES)
  r.end()
  return { code, by, reason }
}

function key(bytes: Uint8Array, field: string): PeerKey {
  try {
    return peerKeyFromBytes(bytes)
  } catch (err) {
    throw new MalformedMessageError('relay frame', `${field}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** UTF-8 of `s`, cut at a character boundary to at most `max` bytes. */
export function truncateUtf8(s: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(s)
  if (bytes.byteLength <= max) return bytes
  let end = max
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

const ELLIPSIS = new TextEncoder().encode('…')
/** A cut this far back at most looks for a space: a reason with no space near the end is cut mid-word. */
const MAX_WORD_BACKTRACK_BYTES = 64

/**
 * UTF-8 of `s` in at most `max` bytes, for text a person reads (refusal reasons): whole when it fits, else cut
 * after the last word that fits, trailing punctuation and spaces dropped, with `…` appended so the reader knows.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(cutAtWord('next hop unreachable: connection refused', 28))   // 'next hop unreachable…'
 * ```
 */
export function cutAtWord(s: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(s)
  if (bytes.byteLength <= max) return bytes
  const head = truncateUtf8(s, max - ELLIPSIS.byteLength)
  let end = head.byteLength
  // the cut falls inside a word unless the next byte starts a space
  if (bytes[end] !== 0x20) {
    const space = head.lastIndexOf(0x20)
    if (space > 0 && end - space <= MAX_WORD_BACKTRACK_BYTES) end = space
  }
  while (end > 0 && isTrailingJunk(head[end - 1] ?? 0)) end--
  const out = new Uint8Array(end + ELLIPSIS.byteLength)
  out.set(head.subarray(0, end))
  out.set(ELLIPSIS, end)
  return out
}

/** space , ; : */
function isTrailingJunk(b: number): boolean {
  return b === 0x20 || b === 0x2c || b === 0x3b || b === 0x3a
}
