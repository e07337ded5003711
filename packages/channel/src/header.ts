/**
 * The pnet channel header: the frames exchanged after multistream-select has picked a channel that has a header.
 * Every frame travels varint-length-prefixed (at most MAX_HEADER_FRAME_BYTES) and starts with its type byte.
 * Byte layouts: docs/protocol/channel.md.
 *
 *   caller → callee  HELLO      versions offered, nonce, caller's message limit, metadata, credentials
 *   callee → caller  CHALLENGE  (auth needs a round trip, e.g. psk)
 *   caller → callee  PROOF
 *   callee → caller  ACCEPT     version chosen, callee's message limit, metadata
 *                  | REJECT     outcome code, reason, supported versions
 */
import {
  MAX_CREDENTIAL_BYTES,
  MAX_CREDENTIALS,
  MAX_MESSAGE_BYTES_CAP,
  MAX_REASON_BYTES,
  MAX_SCHEME_BYTES,
  MAX_VERSION,
  MAX_VERSION_RANGES,
  MIN_VERSION,
  NONCE_BYTES,
} from './limits.js'
import { type Metadata, readMetadata, writeMetadata } from './metadata.js'
import type { VersionRange } from './versions.js'
import { truncateUtf8, WireError, WireReader, WireWriter } from './wire.js'

/** The header version this implementation speaks (the second byte of a HELLO). */
export const HEADER_VERSION = 1

export const FrameType = {
  HELLO: 0x01,
  CHALLENGE: 0x02,
  PROOF: 0x03,
  ACCEPT: 0x04,
  REJECT: 0x05,
} as const

/** HELLO flag: application bytes follow the HELLO without waiting for ACCEPT. */
export const FLAG_EARLY_DATA = 0x01

/** Outcome codes of a REJECT frame. */
export const RejectCode = {
  NO_SUCH_CHANNEL: 1,
  VERSION_UNSUPPORTED: 2,
  UNAUTHORIZED: 3,
  OVERLOADED: 4,
  HANDSHAKE_TIMEOUT: 5,
  PROTOCOL_ERROR: 6,
} as const
export type RejectCodeName = keyof typeof RejectCode

const CODE_NAMES = new Map<number, RejectCodeName>(
  Object.entries(RejectCode).map(([name, code]) => [code, name as RejectCodeName]),
)

const SCHEME = /^[a-z0-9][a-z0-9._-]*$/

export interface Hello {
  readonly type: 'hello'
  readonly flags: number
  readonly versions: VersionRange
  readonly nonce: Uint8Array
  /** the largest application message the caller reads; 0 = not stated */
  readonly maxMessageSize: number
  readonly metadata: Metadata
  /** credential bytes by scheme name (e.g. `psk`, `capability`) */
  readonly credentials: ReadonlyMap<string, Uint8Array>
}

export interface Challenge {
  readonly type: 'challenge'
  readonly scheme: string
  readonly payload: Uint8Array
}

export interface Proof {
  readonly type: 'proof'
  readonly scheme: string
  readonly answer: Uint8Array
}

export interface Accept {
  readonly type: 'accept'
  readonly version: number
  /** the largest application message the callee reads */
  readonly maxMessageSize: number
  readonly metadata: Metadata
}

export interface Reject {
  readonly type: 'reject'
  readonly code: RejectCodeName
  readonly reason: string
  /** what the callee supports (VERSION_UNSUPPORTED only; empty otherwise) */
  readonly supported: readonly VersionRange[]
}

export type HeaderFrame = Hello | Challenge | Proof | Accept | Reject

/** Throws RangeError unless `scheme` is a valid credential scheme name. */
export function checkScheme(scheme: string): string {
  if (!SCHEME.test(scheme) || scheme.length > MAX_SCHEME_BYTES) {
    throw new RangeError(`credential scheme ${JSON.stringify(scheme)} must match ${SCHEME} and be <= 32 bytes`)
  }
  return scheme
}

/** The payload of a frame (without its length prefix). */
export function encodeHeaderFrame(frame: HeaderFrame): Uint8Array {
  const w = new WireWriter()
  switch (frame.type) {
    case 'hello':
      w.u8(FrameType.HELLO).u8(HEADER_VERSION).u8(frame.flags)
      w.uvarint(frame.versions.min).uvarint(frame.versions.max)
      w.bytes(frame.nonce).uvarint(frame.maxMessageSize)
      writeMetadata(w, frame.metadata)
      w.uvarint(frame.credentials.size)
      for (const [scheme, value] of frame.credentials) w.string(scheme).bytes(value)
      break
    case 'challenge':
      w.u8(FrameType.CHALLENGE).string(frame.scheme).bytes(frame.payload)
      break
    case 'proof':
      w.u8(FrameType.PROOF).string(frame.scheme).bytes(frame.answer)
      break
    case 'accept':
      w.u8(FrameType.ACCEPT).uvarint(frame.version).uvarint(frame.maxMessageSize)
      writeMetadata(w, frame.metadata)
      break
    case 'reject': {
      w.u8(FrameType.REJECT).u8(RejectCode[frame.code]).string(truncateUtf8(frame.reason, MAX_REASON_BYTES))
      const ranges = frame.supported.slice(0, MAX_VERSION_RANGES)
      w.uvarint(ranges.length)
      for (const r of ranges) w.uvarint(r.min).uvarint(r.max)
      break
    }
  }
  return w.finish()
}

function readVersion(r: WireReader, what: string): number {
  const v = r.uvarint(what, MAX_VERSION)
  if (v < MIN_VERSION) throw new WireError(`${what} is 0; versions start at ${MIN_VERSION}`)
  return v
}

function readRange(r: WireReader, what: string): VersionRange {
  const min = readVersion(r, `${what} min`)
  const max = readVersion(r, `${what} max`)
  if (min > max) throw new WireError(`${what} min ${min} is above max ${max}`)
  return { min, max }
}

function readScheme(r: WireReader): string {
  const scheme = r.string('credential scheme', MAX_SCHEME_BYTES)
  if (!SCHEME.test(scheme)) throw new WireError(`credential scheme ${JSON.stringify(scheme)} is not a valid name`)
  return scheme
}

/** Decodes one frame payload; throws WireError on anything malformed, out of limits, or left over. */
export function decodeHeaderFrame(payload: Uint8Array): HeaderFrame {
  const r = new WireReader(payload)
  const type = r.u8('frame type')
  switch (type) {
    case FrameType.HELLO: {
      const headerVersion = r.u8('header version')
      if (headerVersion !== HEADER_VERSION) {
        throw new WireError(`unsupported header version ${headerVersion} (this side speaks ${HEADER_VERSION})`)
      }
      const flags = r.u8('flags')
      if ((flags & ~FLAG_EARLY_DATA) !== 0) throw new WireError(`unknown HELLO flags 0x${flags.toString(16)}`)
      const versions = readRange(r, 'offered version')
      const nonce = r.bytes('nonce', NONCE_BYTES)
      if (nonce.byteLength !== NONCE_BYTES)
        throw new WireError(`nonce is ${nonce.byteLength} bytes, not ${NONCE_BYTES}`)
      const maxMessageSize = r.uvarint('max message size', MAX_MESSAGE_BYTES_CAP)
      const metadata = readMetadata(r)
      const count = r.uvarint('credential count', MAX_CREDENTIALS)
      const credentials = new Map<string, Uint8Array>()
      for (let i = 0; i < count; i++) {
        const scheme = readScheme(r)
        const value = r.bytes(`credential ${scheme}`, MAX_CREDENTIAL_BYTES)
        if (credentials.has(scheme)) throw new WireError(`credential scheme ${scheme} appears twice`)
        credentials.set(scheme, value)
      }
      r.end('HELLO')
      return { type: 'hello', flags, versions, nonce, maxMessageSize, metadata, credentials }
    }
    case FrameType.CHALLENGE: {
      const scheme = readScheme(r)
      const challenge = r.bytes('challenge payload', MAX_CREDENTIAL_BYTES)
      r.end('CHALLENGE')
      return { type: 'challenge', scheme, payload: challenge }
    }
    case FrameType.PROOF: {
      const scheme = readScheme(r)
      const answer = r.bytes('proof', MAX_CREDENTIAL_BYTES)
      r.end('PROOF')
      return { type: 'proof', scheme, answer }
    }
    case FrameType.ACCEPT: {
      const version = readVersion(r, 'accepted version')
      const maxMessageSize = r.uvarint('max message size', MAX_MESSAGE_BYTES_CAP)
      const metadata = readMetadata(r)
      r.end('ACCEPT')
      return { type: 'accept', version, maxMessageSize, metadata }
    }
    case FrameType.REJECT: {
      const codeByte = r.u8('reject code')
      const code = CODE_NAMES.get(codeByte)
      if (code === undefined) throw new WireError(`unknown reject code ${codeByte}`)
      const reason = r.string('reason', MAX_REASON_BYTES)
      const count = r.uvarint('supported range count', MAX_VERSION_RANGES)
      const supported: VersionRange[] = []
      for (let i = 0; i < count; i++) supported.push(readRange(r, 'supported version'))
      r.end('REJECT')
      return { type: 'reject', code, reason, supported }
    }
    default:
      throw new WireError(`unknown header frame type 0x${type.toString(16).padStart(2, '0')}`)
  }
}
