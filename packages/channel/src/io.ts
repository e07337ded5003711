/**
 * Reading and writing a Stream during a handshake, then handing it on intact.
 *
 * A Stream's `source` can be iterated once and its `sink` called once, yet the handshake must read a few frames and
 * write a few, and the application must then get every remaining byte and its own sink. So:
 * - {@link StreamReader} pulls chunks into a small buffer only as far as the frame being read, and `rest()` replays
 *   the buffer before continuing the same iterator;
 * - {@link StreamWriter} calls `sink` once with a generator that first yields the handshake's writes, then the
 *   application's source; backpressure is the sink's, as it pulls.
 */
import type { Chunk, Source, Stream } from '@pnet/network'
import { Uint8ArrayList } from 'uint8arraylist'
import { toError } from './errors.js'
import { readUvarint, WireError } from './wire.js'

/** A frame whose declared length is over the limit; nothing past its length prefix was read. */
export class FrameTooLargeError extends WireError {
  override readonly name = 'FrameTooLargeError' as const
  override readonly code = 'ERR_FRAME_TOO_LARGE' as const
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`frame of ${size} bytes is over the limit of ${limit}`)
  }
}

/** `p`, or a rejection with `signal.reason` as soon as the signal fires. */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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

export class StreamReader {
  readonly #iterator: AsyncIterator<Uint8Array>
  readonly #buffer = new Uint8ArrayList()
  #pending: Promise<IteratorResult<Uint8Array>> | undefined
  #eof = false
  #restTaken = false
  /** Runs before the reader waits for input: the writer flushes, so the remote has what it needs to answer. */
  beforeWait: (() => void) | undefined

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]()
  }

  /** bytes read from the stream but not yet consumed */
  get buffered(): number {
    return this.#buffer.byteLength
  }

  /** Pulls one more chunk into the buffer; false at the end of the stream. */
  async #fill(signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#eof) return false
    this.beforeWait?.()
    if (this.#pending === undefined) {
      const next = this.#iterator.next()
      // whoever awaits it handles a rejection; this keeps an abandoned read (timeout) from being "unhandled"
      next.catch(() => {})
      this.#pending = next
    }
    const result = await raceSignal(this.#pending, signal)
    this.#pending = undefined
    if (result.done === true) {
      this.#eof = true
      return false
    }
    if (result.value.byteLength > 0) this.#buffer.append(result.value)
    return true
  }

  /**
   * The next varint-length-prefixed frame (its payload), at most `max` bytes. Undefined on a clean end of stream
   * before a frame starts. Throws FrameTooLargeError as soon as the prefix declares more than `max` (the body is
   * never buffered), WireError on a malformed prefix or an end of stream inside the frame.
   */
  async readFrame(max: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    let prefix = readUvarint(this.#buffer, 0)
    while (prefix === undefined) {
      if (!(await this.#fill(signal))) {
        if (this.#buffer.byteLength === 0) return undefined
        throw new WireError('stream ended inside a frame length')
      }
      prefix = readUvarint(this.#buffer, 0)
    }
    if (prefix.value > max) throw new FrameTooLargeError(prefix.value, max)
    const total = prefix.bytes + prefix.value
    while (this.#buffer.byteLength < total) {
      if (!(await this.#fill(signal))) {
        throw new WireError(`stream ended inside a ${prefix.value}-byte frame`)
      }
    }
    const payload = this.#buffer.subarray(prefix.bytes, total)
    this.#buffer.consume(total)
    return payload
  }

  /** Reads and drops bytes until the end of the stream; false if more than `maxBytes` came first. */
  async discard(maxBytes: number, signal?: AbortSignal): Promise<boolean> {
    let seen = this.#buffer.byteLength
    this.#buffer.consume(this.#buffer.byteLength)
    while (await this.#fill(signal)) {
      seen += this.#buffer.byteLength
      this.#buffer.consume(this.#buffer.byteLength)
      if (seen > maxBytes) return false
    }
    return true
  }

  /** Everything not read yet: the buffered bytes, then the rest of the source. Once. */
  rest(): AsyncGenerator<Uint8Array> {
    if (this.#restTaken) throw new Error('the rest of this stream was already taken')
    this.#restTaken = true
    return this.#rest()
  }

  async *#rest(): AsyncGenerator<Uint8Array> {
    try {
      if (this.#buffer.byteLength > 0) {
        const head = this.#buffer.subarray()
        this.#buffer.consume(head.byteLength)
        yield head
      }
      while (!this.#eof) {
        const next = this.#pending ?? this.#iterator.next()
        this.#pending = undefined
        const result = await next
        if (result.done === true) {
          this.#eof = true
          return
        }
        yield result.value
      }
    } finally {
      this.stop()
    }
  }

  /** Stops reading: the underlying source is told no more will be read. */
  stop(): void {
    this.#buffer.consume(this.#buffer.byteLength)
    if (this.#eof) return
    this.#eof = true
    Promise.resolve(this.#iterator.return?.()).catch(() => {})
  }
}

interface Outgoing {
  readonly data: Chunk
  resolve(): void
  reject(err: Error): void
}

export class StreamWriter {
  readonly #queued: Chunk[] = []
  readonly #outbox: Outgoing[] = []
  #source: Source<Chunk> | undefined
  #ending = false
  #piped = false
  #error: Error | undefined
  #closed = false
  #wake: (() => void) | undefined
  /** Settles when the write side is closed (or the stream failed). */
  readonly done: Promise<void>

  constructor(stream: Pick<Stream, 'sink'>) {
    this.done = stream.sink(this.#generate())
    this.done.catch(err => this.#fail(toError(err)))
  }

  /** true while bytes wait for the next flush */
  get queued(): boolean {
    return this.#queued.length > 0
  }

  /** true once `pipe()` handed the write side to a source */
  get piped(): boolean {
    return this.#piped
  }

  /** Queues bytes; they leave with the next flush, so one handshake step is one write. */
  push(...chunks: Chunk[]): void {
    this.#queued.push(...chunks)
  }

  /** Sends everything queued as one chunk; resolves when the stream has taken it. */
  flush(): Promise<void> {
    if (this.#queued.length === 0) return Promise.resolve()
    const data = this.#queued.length === 1 ? this.#queued[0]! : new Uint8ArrayList(...this.#queued)
    this.#queued.length = 0
    if (this.#error !== undefined) return Promise.reject(this.#error)
    if (this.#ending || this.#piped || this.#closed) return Promise.reject(new Error('write side already closed'))
    return new Promise<void>((resolve, reject) => {
      this.#outbox.push({ data, resolve, reject })
      this.#notify()
    })
  }

  /** push + flush */
  write(...chunks: Chunk[]): Promise<void> {
    this.push(...chunks)
    return this.flush()
  }

  /** Writes `source` after anything queued, then closes the write side. Once. */
  pipe(source: Source<Chunk>): Promise<void> {
    if (this.#piped) return Promise.reject(new Error('sink can be called only once'))
    this.flush().catch(() => {})
    this.#piped = true
    this.#source = source
    this.#notify()
    return this.done
  }

  /** Closes the write side once anything queued has gone. */
  end(): Promise<void> {
    if (!this.#piped) {
      this.flush().catch(() => {})
      this.#ending = true
      this.#notify()
    }
    return this.done
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #fail(err: Error): void {
    this.#error ??= err
    for (const item of this.#outbox.splice(0)) item.reject(this.#error)
  }

  async *#generate(): AsyncGenerator<Chunk> {
    let current: Outgoing | undefined
    try {
      while (true) {
        current = this.#outbox.shift()
        if (current !== undefined) {
          yield current.data
          current.resolve()
          current = undefined
          continue
        }
        if (this.#source !== undefined) {
          yield* this.#source
          return
        }
        if (this.#ending) return
        await new Promise<void>(resolve => {
          this.#wake = resolve
        })
      }
    } finally {
      // the sink stopped pulling (write side closed, or the stream failed): what was not taken will not be sent
      if (current !== undefined || this.#outbox.length > 0) {
        const err = this.#error ?? new Error('write side is closed')
        current?.reject(err)
        this.#fail(err)
      }
      this.#closed = true
    }
  }
}
