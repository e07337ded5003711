/**
 * The field encoding shared by every pnet channel frame and the capability token: unsigned varints (minimal
 * LEB128, as multiformats' unsigned-varint), length-prefixed bytes and UTF-8 strings. The reader never allocates
 * more than the input it was given: every declared length is checked against both its limit and the bytes left.
 */
import { encode as encodeVarint, encodingLength } from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MAX_VARINT_BYTES, NONCE_BYTES } from './limits.js'

/** Malformed input. Callers turn it into a ChannelProtocolError naming the channel and peer. */
export class WireError extends Error {
  override readonly name: string = 'WireError'
  readonly code: string = 'ERR_WIRE'
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Decodes a minimal unsigned varint at `offset`. Undefined when the input ends first (need more bytes);
 * throws WireError when it is longer than 8 bytes, not minimal, or above 2^53 - 1.
 */
export function readUvarint(
  buf: Uint8Array | Uint8ArrayList,
  offset = 0,
): { value: number; bytes: number } | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (offset + i >= buf.byteLength) return undefined
    const b = buf instanceof Uint8Array ? buf[offset + i]! : buf.get(offset + i)
    value += (b & 0x7f) * scale
    if (b < 0x80) {
      if (b === 0 && i > 0) throw new WireError('varint is not minimally encoded')
      if (value > Number.MAX_SAFE_INTEGER) throw new WireError('varint is above 2^53 - 1')
      return { value, bytes: i + 1 }
    }
    scale *= 128
  }
  throw new WireError(`varint is longer than ${MAX_VARINT_BYTES} bytes`)
}

/** The bytes of a minimal unsigned varint (uint8-varint). */
export function uvarint(value: number): Uint8Array {
  return encodeVarint(value)
}

/** `payload` with its varint length prefix, as one buffer. */
export function lengthPrefixed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(encodingLength(payload.byteLength) + payload.byteLength)
  encodeVarint(payload.byteLength, out)
  out.set(payload, out.byteLength - payload.byteLength)
  return out
}

/** Joins buffers into one. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const p of parts) size += p.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

const NONCE_POOL_BYTES = 4096
let noncePool = new Uint8Array(0)
let noncePoolAt = 0

/**
 * A fresh 32-byte random nonce. Drawn from a pool refilled 4 KiB at a time (each byte is handed out once):
 * one CSPRNG call per 128 handshakes instead of one per handshake.
 */
export function nonce(): Uint8Array {
  if (noncePoolAt + NONCE_BYTES > noncePool.byteLength) {
    noncePool = crypto.getRandomValues(new Uint8Array(NONCE_POOL_BYTES))
    noncePoolAt = 0
  }
  const out = noncePool.slice(noncePoolAt, noncePoolAt + NONCE_BYTES)
  noncePool.fill(0, noncePoolAt, noncePoolAt + NONCE_BYTES)
  noncePoolAt += NONCE_BYTES
  return out
}

/** UTF-8 bytes of a string. */
export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s)
}

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s
  let out = ''
  let size = 0
  for (const ch of s) {
    const n = utf8.encode(ch).byteLength
    if (size + n > max) break
    out += ch
    size += n
  }
  return out
}

/** Builds a frame field by field. */
export class WireWriter {
  readonly #parts: Uint8Array[] = []

  u8(value: number): this {
    this.#parts.push(Uint8Array.of(value & 0xff))
    return this
  }

  uvarint(value: number): this {
    this.#parts.push(uvarint(value))
    return this
  }

  bytes(value: Uint8Array): this {
    this.#parts.push(uvarint(value.byteLength), value)
    return this
  }

  string(value: string): this {
    return this.bytes(utf8.encode(value))
  }

  finish(): Uint8Array {
    return concat(this.#parts)
  }
}

/** Reads fields from one complete frame; every method throws WireError on malformed or out-of-limit input. */
export class WireReader {
  readonly #buf: Uint8Array
  #at = 0

  constructor(buf: Uint8Array) {
    this.#buf = buf
  }

  get remaining(): number {
    return this.#buf.byteLength - this.#at
  }

  /** bytes consumed so far */
  get offset(): number {
    return this.#at
  }

  u8(what: string): number {
    if (this.#at >= this.#buf.byteLength) throw new WireError(`frame ends before ${what}`)
    return this.#buf[this.#at++]!
  }

  uvarint(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const r = readUvarint(this.#buf, this.#at)
    if (r === undefined) throw new WireError(`frame ends inside ${what}`)
    if (r.value > max) throw new WireError(`${what} is ${r.value}, above the limit of ${max}`)
    this.#at += r.bytes
    return r.value
  }

  /** A length-prefixed byte string of at most `max` bytes (a view into the frame, not a copy). */
  bytes(what: string, max: number): Uint8Array {
    const len = this.uvarint(`${what} length`)
    if (len > max) throw new WireError(`${what} is ${len} bytes, above the limit of ${max}`)
    if (len > this.remaining) throw new WireError(`${what} claims ${len} bytes but only ${this.remaining} remain`)
    const out = this.#buf.subarray(this.#at, this.#at + len)
    this.#at += len
    return out
  }

  /** A length-prefixed UTF-8 string of at most `max` bytes; invalid UTF-8 is malformed. */
  string(what: string, max: number): string {
    const raw = this.bytes(what, max)
    try {
      return strictUtf8.decode(raw)
    } catch {
      throw new WireError(`${what} is not valid UTF-8`)
    }
  }

  /** Asserts the frame has no bytes left. */
  end(what: string): void {
    if (this.remaining !== 0) throw new WireError(`${this.remaining} unexpected bytes after ${what}`)
  }
}
