/**
 * A growable byte writer and a bounds-checked reader for the router's binary messages. Integers are big-endian;
 * varints are unsigned LEB128 (the multiformats "uvarint", via uint8-varint). Readers throw
 * {@link MalformedMessageError} naming the field that did not fit, never a RangeError from deep inside.
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { MalformedMessageError } from './errors.js'

/** Largest varint accepted: 2^31 - 1 keeps every decoded value a safe small integer. */
const MAX_VARINT = 0x7fffffff

export class Writer {
  #buf: Uint8Array
  #view: DataView
  #at = 0

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity)
    this.#view = new DataView(this.#buf.buffer)
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.byteLength) return
    let size = this.#buf.byteLength * 2
    while (size < this.#at + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#at))
    this.#buf = next
    this.#view = new DataView(next.buffer)
  }

  u8(v: number): this {
    this.#room(1)
    this.#buf[this.#at++] = v & 0xff
    return this
  }

  u16(v: number): this {
    this.#room(2)
    this.#view.setUint16(this.#at, v)
    this.#at += 2
    return this
  }

  u32(v: number): this {
    this.#room(4)
    this.#view.setUint32(this.#at, v >>> 0)
    this.#at += 4
    return this
  }

  varint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > MAX_VARINT) throw new RangeError(`varint out of range: ${v}`)
    const n = encodingLength(v)
    this.#room(n)
    encodeUint8Array(v, this.#buf, this.#at)
    this.#at += n
    return this
  }

  bytes(b: Uint8Array): this {
    this.#room(b.byteLength)
    this.#buf.set(b, this.#at)
    this.#at += b.byteLength
    return this
  }

  /** varint length, then the bytes */
  lp(b: Uint8Array): this {
    return this.varint(b.byteLength).bytes(b)
  }

  /** varint length, then UTF-8 */
  string(s: string): this {
    return this.lp(new TextEncoder().encode(s))
  }

  get length(): number {
    return this.#at
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#at)
  }
}

export class Reader {
  readonly #buf: Uint8Array
  readonly #view: DataView
  readonly #what: string
  #at = 0

  /** `what` names the message in errors, e.g. "router update" */
  constructor(buf: Uint8Array, what: string) {
    this.#buf = buf
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.#what = what
  }

  #need(n: number, field: string): void {
    if (this.#at + n > this.#buf.byteLength) {
      throw new MalformedMessageError(this.#what, `truncated at ${field} (byte ${this.#at} of ${this.#buf.byteLength})`)
    }
  }

  u8(field: string): number {
    this.#need(1, field)
    return this.#buf[this.#at++] ?? 0
  }

  u16(field: string): number {
    this.#need(2, field)
    const v = this.#view.getUint16(this.#at)
    this.#at += 2
    return v
  }

  u32(field: string): number {
    this.#need(4, field)
    const v = this.#view.getUint32(this.#at)
    this.#at += 4
    return v
  }

  /**
   * A uvarint, strictly: uint8-varint's decoder reads past the end of a truncated buffer and accepts non-minimal
   * encodings, so a frame could decode two ways. Here both are errors.
   */
  varint(field: string, max = MAX_VARINT): number {
    let v = 0
    for (let i = 0; i < 5; i++) {
      this.#need(1, field)
      const b = this.#buf[this.#at++] ?? 0
      v += (b & 0x7f) * 2 ** (7 * i)
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new MalformedMessageError(this.#what, `non-minimal varint at ${field}`)
        if (v > max) throw new MalformedMessageError(this.#what, `${field} is ${v}, more than ${max}`)
        return v
      }
    }
    throw new MalformedMessageError(this.#what, `varint too long at ${field}`)
  }

  bytes(n: number, field: string): Uint8Array {
    this.#need(n, field)
    const out = this.#buf.subarray(this.#at, this.#at + n)
    this.#at += n
    return out
  }

  /** varint length (at most `max`), then the bytes */
  lp(field: string, max: number): Uint8Array {
    return this.bytes(this.varint(`${field} length`, max), field)
  }

  string(field: string, max: number): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.lp(field, max))
    } catch (err) {
      if (err instanceof MalformedMessageError) throw err
      throw new MalformedMessageError(this.#what, `${field} is not UTF-8`)
    }
  }

  get remaining(): number {
    return this.#buf.byteLength - this.#at
  }

  /** throws unless every byte was consumed */
  end(): void {
    if (this.#at !== this.#buf.byteLength) {
      throw new MalformedMessageError(this.#what, `${this.#buf.byteLength - this.#at} trailing bytes`)
    }
  }
}
