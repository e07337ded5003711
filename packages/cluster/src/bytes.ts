/**
 * A growable writer and a strict, bounds-checked reader for the cluster's binary encodings. Varints are unsigned
 * LEB128 (multiformats "uvarint"). The reader rejects truncation, non-minimal varints and values past a bound with
 * {@link MalformedClusterDataError} naming the field; it never throws a RangeError from deep inside.
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { MalformedClusterDataError } from './errors.js'

/** 2^53 - 1: every decoded varint is a safe integer (8 bytes of LEB128 carry 56 bits, so 8 is the longest form). */
const MAX_SAFE = Number.MAX_SAFE_INTEGER
const MAX_VARINT_BYTES = 8

export class Writer {
  #buf: Uint8Array
  #at = 0

  constructor(capacity = 64) {
    this.#buf = new Uint8Array(capacity)
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.byteLength) return
    let size = this.#buf.byteLength * 2
    while (size < this.#at + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#at))
    this.#buf = next
  }

  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`)
    const n = encodingLength(v)
    this.#room(n)
    encodeUint8Array(v, this.#buf, this.#at)
    this.#at += n
    return this
  }

  /** varint length, then the bytes */
  lp(bytes: Uint8Array): this {
    this.varint(bytes.byteLength)
    this.#room(bytes.byteLength)
    this.#buf.set(bytes, this.#at)
    this.#at += bytes.byteLength
    return this
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at)
  }
}

export class Reader {
  #at = 0
  constructor(
    readonly buf: Uint8Array,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.#at === this.buf.byteLength
  }

  fail(field: string, reason: string): never {
    throw new MalformedClusterDataError(this.what, field, reason)
  }

  varint(field: string, max = MAX_SAFE): number {
    let v = 0
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.#at >= this.buf.byteLength) this.fail(field, 'truncated')
      const b = this.buf[this.#at++]!
      v += (b & 0x7f) * 2 ** (7 * i)
      if (b < 0x80) {
        if (b === 0 && i > 0) this.fail(field, 'non-minimal varint')
        if (v > max) this.fail(field, `${v} is more than ${max}`)
        return v
      }
    }
    return this.fail(field, 'varint too long')
  }

  bytes(n: number, field: string): Uint8Array {
    if (this.#at + n > this.buf.byteLength) this.fail(field, 'truncated')
    const out = this.buf.subarray(this.#at, this.#at + n)
    this.#at += n
    return out
  }

  string(field: string, maxBytes: number): string {
    const raw = this.bytes(this.varint(`${field} length`, maxBytes), field)
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw)
    } catch {
      return this.fail(field, 'not UTF-8')
    }
  }

  end(): void {
    if (!this.done) this.fail('end', `${this.buf.byteLength - this.#at} trailing bytes`)
  }
}
