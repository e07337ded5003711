/**
 * multistream-select 1.0.0 for the muxer, inside our Noise channel, for peers that do not negotiate the muxer in
 * the Noise payload (the library is no longer in charge of the bytes once the data path is ours).
 *
 * Wire: each message is an unsigned varint length, then that many bytes ending in `\n`. The dialer sends
 * `/multistream/1.0.0\n` and `/yamux/1.0.0\n`; the listener answers `/multistream/1.0.0\n` and echoes the protocol
 * (or `na\n` for one it does not speak, up to a limit). Interop with @libp2p/multistream-select is tested.
 */
import { HandshakeError } from './errors.js'
import type { Direction } from './interface.js'
import { joinPieces } from './noise-channel.js'

const HEADER = '/multistream/1.0.0'
/** Proposals a listener answers with `na` before giving up on the dialer. */
const MAX_PROPOSALS = 16
/** Longest message accepted (protocol IDs are short). */
const MAX_MESSAGE = 1024

const enc = new TextEncoder()
const dec = new TextDecoder()

function frame(line: string): Uint8Array {
  const body = enc.encode(`${line}\n`)
  const out = new Uint8Array(body.byteLength + 2)
  let n = body.byteLength
  let at = 0
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  out[at++] = n
  out.set(body, at)
  return out.subarray(0, at + body.byteLength)
}

/**
 * Drives the exchange for one protocol. Feed it decrypted bytes; `done` resolves with the bytes that followed the
 * negotiation (they belong to the muxer).
 */
export class MuxerSelect {
  readonly done: Promise<Uint8Array[]>
  #resolve!: (rest: Uint8Array[]) => void
  #reject!: (err: Error) => void
  #buf = new Uint8Array(0)
  #step = 0
  #proposals = 0
  #finished = false

  constructor(
    readonly protocol: string,
    readonly direction: Direction,
    readonly write: (bytes: Uint8Array) => void,
    readonly where: string,
    /** called synchronously on success with the bytes that followed, before `done` resolves */
    readonly onFinish: (rest: Uint8Array[]) => void = () => {},
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.done.catch(() => {})
    if (direction === 'outbound') {
      write(frame(HEADER))
      write(frame(protocol))
    }
  }

  fail(err: Error): void {
    if (this.#finished) return
    this.#finished = true
    this.#reject(err)
  }

  feed(pieces: Uint8Array[]): void {
    if (this.#finished) return
    const more = joinPieces(
      pieces,
      pieces.reduce((n, p) => n + p.byteLength, 0),
    )
    const joined = new Uint8Array(this.#buf.byteLength + more.byteLength)
    joined.set(this.#buf)
    joined.set(more, this.#buf.byteLength)
    this.#buf = joined
    try {
      while (!this.#finished) {
        const line = this.#nextLine()
        if (line === undefined) break
        this.#onLine(line)
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #nextLine(): string | undefined {
    let len = 0
    let shift = 0
    let at = 0
    while (true) {
      if (at >= this.#buf.byteLength) return undefined
      const b = this.#buf[at++]!
      len |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) break
      shift += 7
      if (shift > 21) throw new HandshakeError(this.where, 'multistream-select length prefix too long')
    }
    if (len > MAX_MESSAGE) throw new HandshakeError(this.where, `multistream-select message of ${len} bytes`)
    if (this.#buf.byteLength < at + len) return undefined
    const body = this.#buf.subarray(at, at + len)
    this.#buf = this.#buf.subarray(at + len)
    if (len === 0 || body[len - 1] !== 0x0a)
      throw new HandshakeError(this.where, 'multistream-select message without newline')
    return dec.decode(body.subarray(0, len - 1))
  }

  #onLine(line: string): void {
    if (this.#step === 0) {
      if (line !== HEADER) throw new HandshakeError(this.where, `expected ${HEADER}, got ${JSON.stringify(line)}`)
      this.#step = 1
      if (this.direction === 'inbound') this.write(frame(HEADER))
      return
    }
    if (this.direction === 'outbound') {
      if (line !== this.protocol) {
        throw new HandshakeError(this.where, `the remote does not speak ${this.protocol} (${line})`)
      }
      this.#finish()
      return
    }
    if (line === this.protocol) {
      this.write(frame(this.protocol))
      this.#finish()
      return
    }
    if (++this.#proposals > MAX_PROPOSALS) throw new HandshakeError(this.where, 'too many muxer proposals')
    this.write(frame('na'))
  }

  #finish(): void {
    this.#finished = true
    const rest = this.#buf.byteLength > 0 ? [this.#buf] : []
    this.onFinish(rest)
    this.#resolve(rest)
  }
}
