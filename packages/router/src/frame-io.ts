/**
 * One length-prefixed frame at the head of a byte stream, then the raw rest: what the relay and broadcast protocols
 * need (a header, then opaque bytes, or a request then a report). The length prefix is an unsigned varint, as in
 * it-length-prefixed and the channel framing; a length over the limit is refused before the body is read.
 *
 * @example
 * ```ts
 * const { frame, rest } = await readFrame(stream.source, 4096, 'relay header', signal)
 * await next.sink(rest)   // the bytes after the header, unread so far, then the rest of the stream
 * ```
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { MalformedMessageError } from './errors.js'

/** `payload` with its varint length in front. */
export function lengthPrefixed(payload: Uint8Array): Uint8Array {
  const n = encodingLength(payload.byteLength)
  const out = new Uint8Array(n + payload.byteLength)
  encodeUint8Array(payload.byteLength, out, 0)
  out.set(payload, n)
  return out
}

export interface FrameAndRest {
  /** the frame, or undefined when the stream ended before any byte */
  frame: Uint8Array | undefined
  /** whatever followed the frame: buffered bytes first, then the same source, to be iterated once */
  rest: AsyncIterable<Uint8Array>
}

/**
 * Reads one frame of at most `max` bytes. Throws MalformedMessageError (naming `what`) for a bad or oversized
 * prefix or a stream that ends inside the frame; rejects with the signal's reason if it fires first.
 */
export async function readFrame(
  source: AsyncIterable<Uint8Array>,
  max: number,
  what: string,
  signal?: AbortSignal,
): Promise<FrameAndRest> {
  const it = source[Symbol.asyncIterator]()
  let buf: Uint8Array = new Uint8Array(0)
  const pull = async (): Promise<boolean> => {
    const pending = it.next()
    pending.catch(() => {}) // an abandoned read (signal fired) rejects later, when the stream is torn down
    const next = await raceAbort(pending, signal)
    if (next.done === true) return false
    buf = buf.byteLength === 0 ? next.value : concat(buf, next.value)
    return true
  }
  let length: number | undefined
  let prefix = 0
  while (length === undefined) {
    const parsed = parseVarint(buf, what)
    if (parsed !== undefined) {
      ;[length, prefix] = parsed
      if (length > max) throw new MalformedMessageError(what, `frame of ${length} bytes, over the limit of ${max}`)
      break
    }
    if (!(await pull())) {
      if (buf.byteLength === 0) return { frame: undefined, rest: (async function* () {})() }
      throw new MalformedMessageError(what, 'stream ended inside the length prefix')
    }
  }
  while (buf.byteLength < prefix + length) {
    if (!(await pull())) throw new MalformedMessageError(what, 'stream ended inside the frame')
  }
  const frame = buf.slice(prefix, prefix + length)
  const leftover = buf.subarray(prefix + length)
  return { frame, rest: restOf(leftover, it) }
}

/**
 * Reads a sequence of length-prefixed frames from one source (readFrame is for one header then raw bytes).
 *
 * @example
 * ```ts
 * const frames = new FrameReader(stream.source)
 * for (let f = await frames.next(4096, 'reply'); f !== undefined; f = await frames.next(4096, 'reply')) use(f)
 * ```
 */
export class FrameReader {
  readonly #it: AsyncIterator<Uint8Array>
  #buf: Uint8Array = new Uint8Array(0)

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  /** The next frame of at most `max` bytes, or undefined when the source ended cleanly between frames. */
  async next(max: number, what: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    let parsed = parseVarint(this.#buf, what)
    while (parsed === undefined) {
      if (!(await this.#pull(signal))) {
        if (this.#buf.byteLength === 0) return undefined
        throw new MalformedMessageError(what, 'stream ended inside the length prefix')
      }
      parsed = parseVarint(this.#buf, what)
    }
    const [length, prefix] = parsed
    if (length > max) throw new MalformedMessageError(what, `frame of ${length} bytes, over the limit of ${max}`)
    while (this.#buf.byteLength < prefix + length) {
      if (!(await this.#pull(signal))) throw new MalformedMessageError(what, 'stream ended inside the frame')
    }
    const frame = this.#buf.slice(prefix, prefix + length)
    this.#buf = this.#buf.subarray(prefix + length)
    return frame
  }

  async #pull(signal: AbortSignal | undefined): Promise<boolean> {
    const pending = this.#it.next()
    pending.catch(() => {})
    const next = await raceAbort(pending, signal)
    if (next.done === true) return false
    this.#buf = this.#buf.byteLength === 0 ? next.value : concat(this.#buf, next.value)
    return true
  }
}

async function* restOf(leftover: Uint8Array, it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (leftover.byteLength > 0) yield leftover
  try {
    while (true) {
      const next = await it.next()
      if (next.done === true) return
      yield next.value
    }
  } finally {
    await it.return?.()
  }
}

/** [value, bytes used], or undefined when more bytes are needed. Minimal encodings only, at most 5 bytes. */
function parseVarint(buf: Uint8Array, what: string): [number, number] | undefined {
  let value = 0
  for (let i = 0; i < buf.byteLength; i++) {
    if (i >= 5) throw new MalformedMessageError(what, 'length prefix too long')
    const b = buf[i] ?? 0
    value += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) {
      if (b === 0 && i > 0) throw new MalformedMessageError(what, 'non-minimal length prefix')
      return [value, i + 1]
    }
  }
  return undefined
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

/** `p`, or a rejection as soon as `signal` fires. */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      v => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      e => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
