/**
 * Noise transport messages after the handshake, on a RawIO: `length (u16 BE) || ChaCha20-Poly1305(plaintext) || tag`,
 * nonce = 4 zero bytes || message counter (u64 LE), empty associated data — exactly what @chainsafe/libp2p-noise and
 * every libp2p implementation send (the interop tests talk to them).
 *
 * Why our own (the handshake stays with the library): the library frames each write separately and runs every
 * message through three event-dispatching stream layers; the stream benchmark measured that path at the speed of
 * js-libp2p, a fraction of raw TCP. Here writes are coalesced into full messages (65 519 plaintext bytes) per tick,
 * the cipher runs over the pieces in place, and a message goes out as one corked socket write.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { ChaCha20Poly1305, newInstance } from '@chainsafe/as-chacha20poly1305'
import type { RawIO } from './raw-io.js'

/** Largest Noise message (length prefix excluded) and the plaintext it can carry. */
export const NOISE_MAX_MESSAGE = 65_535
const TAG = 16
export const NOISE_MAX_PLAINTEXT = NOISE_MAX_MESSAGE - TAG
/** The libp2p implementations stop at 2^32 - 1 messages per direction (no rekeying); so do we. */
const MAX_NONCE = 0xffff_ffff
/**
 * Below this many plaintext bytes the WebAssembly ChaCha20-Poly1305 (@chainsafe/as-chacha20poly1305, the one
 * libp2p-noise uses for small messages) beats creating a node:crypto cipher object: ~3 µs against ~7 µs for 64 bytes.
 */
const SMALL = 1024
const wasm = new ChaCha20Poly1305(newInstance())

export class NoiseDecryptError extends Error {
  override readonly name = 'NoiseDecryptError' as const
  readonly code = 'ERR_NOISE_DECRYPT' as const
  constructor(reason: string) {
    super(`noise: ${reason}`)
  }
}

class Cipher {
  readonly #raw: Uint8Array
  readonly #key: KeyObject
  readonly #nonce = Buffer.alloc(12)
  #counter = 0

  constructor(key: Uint8Array) {
    this.#raw = key
    this.#key = createSecretKey(key)
  }

  #next(): Buffer {
    if (this.#counter >= MAX_NONCE) throw new NoiseDecryptError('nonce exhausted (2^32 messages on one connection)')
    this.#nonce.writeUInt32LE(this.#counter >>> 0, 4)
    this.#nonce.writeUInt32LE(Math.floor(this.#counter / 2 ** 32), 8)
    this.#counter++
    return this.#nonce
  }

  /** One wire message `length || ciphertext || tag`, as pieces to write in order. */
  seal(pieces: Uint8Array[], length: number): Uint8Array[] {
    if (length < SMALL) {
      const out = Buffer.allocUnsafe(2 + length + TAG)
      out.writeUInt16BE(length + TAG)
      wasm.seal(this.#raw, this.#next(), joinPieces(pieces, length), EMPTY, out.subarray(2))
      return [out]
    }
    const c = createCipheriv('chacha20-poly1305', this.#key, this.#next(), { authTagLength: TAG })
    c.setAAD(EMPTY, { plaintextLength: length })
    const prefix = Buffer.allocUnsafe(2)
    prefix.writeUInt16BE(length + TAG)
    const out: Uint8Array[] = [prefix]
    for (const p of pieces) out.push(c.update(p))
    const final = c.final()
    if (final.byteLength > 0) out.push(final)
    out.push(c.getAuthTag())
    return out
  }

  /** Plaintext pieces; throws when the tag does not verify. */
  open(body: Uint8Array[], bodyLength: number, tag: Uint8Array): Uint8Array[] {
    if (bodyLength < SMALL) {
      const sealed = Buffer.allocUnsafe(bodyLength + TAG)
      let at = 0
      for (const p of body) {
        sealed.set(p, at)
        at += p.byteLength
      }
      sealed.set(tag, at)
      const plain = wasm.open(this.#raw, this.#next(), sealed, EMPTY)
      if (plain === null) throw new NoiseDecryptError('message failed authentication (corrupted or forged)')
      return [plain]
    }
    const d = createDecipheriv('chacha20-poly1305', this.#key, this.#next(), { authTagLength: TAG })
    d.setAAD(EMPTY, { plaintextLength: bodyLength })
    d.setAuthTag(tag)
    const out: Uint8Array[] = []
    for (const p of body) out.push(d.update(p))
    try {
      const final = d.final()
      if (final.byteLength > 0) out.push(final)
    } catch {
      throw new NoiseDecryptError('message failed authentication (corrupted or forged)')
    }
    return out
  }
}

const EMPTY = new Uint8Array(0)

export interface NoiseChannelInit {
  io: RawIO
  sendKey: Uint8Array
  recvKey: Uint8Array
  /** decrypted bytes, in order */
  onPlaintext(pieces: Uint8Array[]): void
  /** a message failed authentication: the connection must die */
  onError(err: Error): void
}

/** Byte queue that hands out exact-length slices without copying where it can. */
class PieceQueue {
  readonly pieces: Uint8Array[] = []
  bytes = 0

  push(buf: Uint8Array): void {
    if (buf.byteLength === 0) return
    this.pieces.push(buf)
    this.bytes += buf.byteLength
  }

  /** Removes `n` bytes from the front as slices. */
  take(n: number): Uint8Array[] {
    const out: Uint8Array[] = []
    let left = n
    while (left > 0) {
      const head = this.pieces[0]!
      if (head.byteLength <= left) {
        out.push(head)
        this.pieces.shift()
        left -= head.byteLength
      } else {
        out.push(head.subarray(0, left))
        this.pieces[0] = head.subarray(left)
        left = 0
      }
    }
    this.bytes -= n
    return out
  }

  /** Reads a big-endian u16 at the front without consuming. */
  peekU16(): number {
    const a = this.pieces[0]!
    if (a.byteLength >= 2) return (a[0]! << 8) | a[1]!
    return (a[0]! << 8) | this.pieces[1]![0]!
  }
}

export function joinPieces(pieces: Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!
  const out = Buffer.allocUnsafe(length)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

export class NoiseChannel {
  readonly #io: RawIO
  readonly #send: Cipher
  readonly #recv: Cipher
  readonly #init: NoiseChannelInit
  readonly #out = new PieceQueue()
  readonly #in = new PieceQueue()
  #flushQueued = false
  #failed = false
  /** true while the raw pipe accepts more */
  writable = true

  constructor(init: NoiseChannelInit) {
    this.#init = init
    this.#io = init.io
    this.#send = new Cipher(init.sendKey)
    this.#recv = new Cipher(init.recvKey)
  }

  /** Feeds ciphertext bytes from the wire. */
  receive(buf: Uint8Array): void {
    if (this.#failed) return
    const q = this.#in
    q.push(buf)
    try {
      while (q.bytes >= 2) {
        const length = q.peekU16()
        if (q.bytes < 2 + length) return
        if (length < TAG) throw new NoiseDecryptError(`message of ${length} bytes is shorter than its tag`)
        q.take(2)
        const body = q.take(length - TAG)
        const tag = joinPieces(q.take(TAG), TAG)
        const plain = this.#recv.open(body, length - TAG, tag)
        this.#init.onPlaintext(plain)
      }
    } catch (err) {
      this.#failed = true
      this.#init.onError(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Queues plaintext; it goes out in full messages, the rest at the end of this tick. */
  write(piece: Uint8Array): void {
    const out = this.#out
    out.push(piece)
    while (out.bytes >= NOISE_MAX_PLAINTEXT) this.#emit(NOISE_MAX_PLAINTEXT)
    if (out.bytes > 0 && !this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(() => this.flush())
    }
  }

  /** Sends whatever is queued now. */
  flush(): void {
    this.#flushQueued = false
    if (this.#out.bytes > 0) this.#emit(this.#out.bytes)
  }

  #emit(length: number): void {
    const sealed = this.#send.seal(this.#out.take(length), length)
    if (!this.#io.write(sealed)) this.writable = false
  }
}
