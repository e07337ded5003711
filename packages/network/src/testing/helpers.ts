/**
 * Helpers for tests of anything built on @pnet/network: deterministic data, checksums, a logger that records.
 */
import { createHash } from 'node:crypto'
import type { Chunk, Source, Stream } from '../interface.js'
import type { LogFn, Logger } from '../logger.js'

/**
 * `total` bytes of deterministic pseudo-random data in `chunkSize` pieces (xorshift32 from `seed`).
 *
 * @example
 * ```ts
 * await stream.sink(pseudoRandomChunks(1 << 20, 65536, 42))
 * ```
 */
export function* pseudoRandomChunks(total: number, chunkSize = 65536, seed = 1): Generator<Uint8Array> {
  let x = seed >>> 0 || 1
  let left = total
  while (left > 0) {
    const size = Math.min(chunkSize, left)
    const words = new Uint32Array(Math.ceil(size / 4))
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      words[i] = x >>> 0
    }
    yield new Uint8Array(words.buffer, 0, size)
    left -= size
  }
}

/**
 * Passes chunks through while hashing them; `digest()` after the source ended.
 *
 * @example
 * ```ts
 * const tap = sha256Tap(pseudoRandomChunks(1 << 20))
 * await stream.sink(tap.source); console.log(tap.digest(), tap.bytes)
 * ```
 */
export function sha256Tap(source: Source<Uint8Array>): {
  source: AsyncIterable<Uint8Array>
  digest(): string
  readonly bytes: number
} {
  const hash = createHash('sha256')
  let bytes = 0
  async function* tap(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk)
      bytes += chunk.byteLength
      yield chunk
    }
  }
  return {
    source: tap(),
    digest: () => hash.digest('hex'),
    get bytes() {
      return bytes
    },
  }
}

/**
 * Reads a stream to its end; returns the byte count and sha256.
 *
 * @example
 * ```ts
 * const { bytes, sha256 } = await drain(stream)
 * ```
 */
export async function drain(stream: { source: AsyncIterable<Uint8Array> }): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream.source) {
    hash.update(chunk)
    bytes += chunk.byteLength
  }
  return { bytes, sha256: hash.digest('hex') }
}

/** Reads a whole stream into one buffer. */
export async function readAll(stream: { source: AsyncIterable<Uint8Array> }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of stream.source) {
    chunks.push(chunk)
    size += chunk.byteLength
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

/** Writes `data` and closes the write side. */
export async function writeAll(stream: Stream, ...data: Chunk[]): Promise<void> {
  await stream.sink(data)
}

export interface LogRecord {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  msg: string
  fields: Record<string, unknown>
}

/**
 * A logger that keeps every record, for asserting that a reason was logged.
 *
 * @example
 * ```ts
 * const log = recordingLogger()
 * createNetwork({ privateKey, transports: [tcp()], logger: log })
 * expect(log.records.some(r => r.msg.includes('refused'))).toBe(true)
 * ```
 */
export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = []
  const make =
    (level: LogRecord['level']): LogFn =>
    (a: Record<string, unknown> | string, b?: string) => {
      if (typeof a === 'string') records.push({ level, msg: a, fields: {} })
      else records.push({ level, msg: b ?? '', fields: a })
    }
  const logger = {
    records,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: () => logger,
  }
  return logger
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Polls `predicate` every 5 ms until it is true or `timeoutMs` passes (then throws naming `what`); resolves with the
 * milliseconds it took. The one polling helper of every package's tests.
 *
 * @example
 * ```ts
 * await waitFor(() => network.connections().length === 0, 'connections to close')
 * const ms = await waitFor(() => router.route(peer) !== undefined, 'a route to peer', 20_000)
 * ```
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<number> {
  const started = Date.now()
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(5)
  }
  return Date.now() - started
}
