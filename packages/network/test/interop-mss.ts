/**
 * A minimal multistream-select 1.0.0 (initiator and responder) over our network Stream, for the libp2p interop
 * tests only: js-libp2p negotiates a protocol on every stream, our network-level Stream has none (@pnet/channel
 * does that).
 *
 * Wire: each message is an unsigned varint length, then that many bytes: UTF-8 text ending in `\n`. Both sides send
 * `/multistream/1.0.0\n`; the initiator sends the protocol ID, the responder echoes it (or `na\n`).
 */
import type { Stream } from '../src/index.js'

const HEADER = '/multistream/1.0.0'
const MAX_MESSAGE = 1024
const enc = new TextEncoder()
const dec = new TextDecoder()

export function mssMessage(text: string): Uint8Array {
  const body = enc.encode(`${text}\n`)
  const len: number[] = []
  let n = body.byteLength
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  len.push(n)
  const out = new Uint8Array(len.length + body.byteLength)
  out.set(len)
  out.set(body, len.length)
  return out
}

/** Reads length-prefixed messages off a byte stream, then hands over the rest untouched. */
class MessageReader {
  readonly #it: AsyncIterator<Uint8Array>
  #buf = new Uint8Array(0)

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  async #fill(): Promise<void> {
    const next = await this.#it.next()
    if (next.done === true) throw new Error('stream ended during multistream-select')
    const joined = new Uint8Array(this.#buf.byteLength + next.value.byteLength)
    joined.set(this.#buf)
    joined.set(next.value, this.#buf.byteLength)
    this.#buf = joined
  }

  async message(): Promise<string> {
    while (true) {
      const text = this.#parse()
      if (text !== undefined) return text
      await this.#fill()
    }
  }

  /** One whole message off the front of the buffer, or undefined if it has not all arrived yet. */
  #parse(): string | undefined {
    let len = 0
    let i = 0
    while (true) {
      if (i >= this.#buf.byteLength) return undefined
      if (i >= 3) throw new Error('multistream-select length varint longer than 3 bytes')
      const b = this.#buf[i] ?? 0
      len |= (b & 0x7f) << (7 * i)
      i++
      if ((b & 0x80) === 0) break
    }
    if (len > MAX_MESSAGE) throw new Error(`multistream-select message of ${len} bytes`)
    if (this.#buf.byteLength < i + len) return undefined
    const text = dec.decode(this.#buf.subarray(i, i + len))
    this.#buf = this.#buf.subarray(i + len)
    if (!text.endsWith('\n')) throw new Error(`multistream-select message without newline: ${JSON.stringify(text)}`)
    return text.slice(0, -1)
  }

  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.#buf.byteLength > 0) yield this.#buf
    while (true) {
      const next = await this.#it.next()
      if (next.done === true) return
      yield next.value
    }
  }
}

export interface Negotiated {
  protocol: Promise<string>
  /** the application bytes from the remote, after negotiation */
  source: AsyncIterable<Uint8Array>
  /** writes the application bytes (after our negotiation messages), then closes our write side */
  sink(data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void>
}

/** Initiator: proposes `protocol`, waits for the echo before sending data. */
export function mssSelect(stream: Stream, protocol: string): Negotiated {
  const reader = new MessageReader(stream.source)
  const agreed = (async () => {
    const header = await reader.message()
    if (header !== HEADER) throw new Error(`expected ${HEADER}, got ${header}`)
    const answer = await reader.message()
    if (answer !== protocol) throw new Error(`remote answered ${answer} to ${protocol}`)
    return answer
  })()
  agreed.catch(() => {})
  return {
    protocol: agreed,
    source: (async function* () {
      await agreed
      yield* reader.rest()
    })(),
    sink: data =>
      stream.sink(
        (async function* () {
          yield mssMessage(HEADER)
          yield mssMessage(protocol)
          await agreed
          yield* data
        })(),
      ),
  }
}

/** Responder: accepts one of `protocols`, echoing it. */
export function mssHandle(stream: Stream, protocols: string[]): Negotiated {
  const reader = new MessageReader(stream.source)
  const agreed = (async () => {
    const header = await reader.message()
    if (header !== HEADER) throw new Error(`expected ${HEADER}, got ${header}`)
    const proposal = await reader.message()
    if (!protocols.includes(proposal)) throw new Error(`unsupported protocol ${proposal}`)
    return proposal
  })()
  agreed.catch(() => {})
  return {
    protocol: agreed,
    source: (async function* () {
      await agreed
      yield* reader.rest()
    })(),
    sink: data =>
      stream.sink(
        (async function* () {
          yield mssMessage(HEADER)
          yield mssMessage(await agreed)
          yield* data
        })(),
      ),
  }
}
