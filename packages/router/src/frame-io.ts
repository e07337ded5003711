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
  const reader = new FrameReader(source)
  const frame = await reader.next(max, what, signal)
  if (frame === undefined) return { frame: undefined, rest: (async function* () {})() }
  return { frame, rest: reader.rest() }
}

/**
 * Reads a sequence of length-prefixed frames from one source. Chunks are kept as they arrive and joined once per
 * frame, so a large frame that comes in many pieces costs one copy, not one per piece.
 *
 * @example
 * ```ts
 * const frames = new FrameReader(stream.source)
 * for (let f = await frames.next(4096, 'reply'); f !== undefined; f = await frames.next(4096, 'reply')) use(f)
 * ```
 */
export class FrameReader {
  readonly #it: AsyncIterator<Uint8Array>
  #chunks: Uint8Array[] = []
  #size = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  /** The next frame of at most `max` bytes, or undefined when the source ended cleanly between frames. */
  async next(max: number, what: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    let parsed = parseVarint(this.#head(), what)
    while (parsed === undefined) {
      if (!(await this.#pull(signal))) {
        if (this.#size === 0) return undefined
        throw new MalformedMessageError(what, 'stream ended inside the length prefix')
      }
      parsed = parseVarint(this.#head(), what)
    }
    const [length, prefix] = parsed
    if (length > max) throw new MalformedMessageError(what, `frame of ${length} bytes, over the limit of ${max}`)
    while (this.#size < prefix + length) {
      if (!(await this.#pull(signal))) throw new MalformedMessageError(what, 'stream ended inside the frame')
    }
    this.#take(prefix)
    return this.#take(length)
  }

  /** What is buffered, then the rest of the source, unread; to be iterated once, after the last `next`. */
  async *rest(): AsyncGenerator<Uint8Array> {
    const buffered = this.#chunks
    this.#chunks = []
    this.#size = 0
    yield* buffered
    try {
      while (true) {
        const next = await this.#it.next()
        if (next.done === true) return
        yield next.value
      }
    } finally {
      await this.#it.return?.()
    }
  }

  /** The first bytes buffered, contiguous: enough for a length prefix (at most 5 bytes). */
  #head(): Uint8Array {
    const first = this.#chunks[0]
    if (first === undefined) return new Uint8Array(0)
    if (first.byteLength >= 5 || this.#chunks.length === 1) return first
    const head = concat(this.#chunks)
    this.#chunks = [head]
    return head
  }

  /** Removes and returns the first `n` buffered bytes (n ≤ size), copying only when they span chunks. */
  #take(n: number): Uint8Array {
    this.#size -= n
    const first = this.#chunks[0]
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      return first.slice(0, n)
    }
    const out = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const chunk = this.#chunks[0] as Uint8Array
      const use = Math.min(chunk.byteLength, n - at)
      out.set(chunk.subarray(0, use), at)
      at += use
      if (use === chunk.byteLength) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(use)
    }
    return out
  }

  async #pull(signal: AbortSignal | undefined): Promise<boolean> {
    const pending = this.#it.next()
    pending.catch(() => {}) // an abandoned read (signal fired) rejects later, when the stream is torn down
    const next = await raceAbort(pending, signal)
    if (next.done === true) return false
    if (next.value.byteLength > 0) {
      this.#chunks.push(next.value)
      this.#size += next.value.byteLength
    }
    return true
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

function concat(chunks: Uint8Array[]): Uint8Array {
  let size = 0
  for (const c of chunks) size += c.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
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
