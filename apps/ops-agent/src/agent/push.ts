/**
 * The receiving end of `ops-agent push`. The signed push job names the destination, size and sha256; the bytes
 * follow as chunk broadcasts down the routing tree (each relay forwards a chunk once per child, and writes it too
 * when it is a target). Chunks go to a temporary file beside the destination, written at their offsets as they
 * come; when all bytes are in, the file is checked against the signed sha256, given its mode and owner, and renamed
 * over the destination in one step. A push that fails, times out or is cancelled leaves no trace at the destination.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, chown, type FileHandle, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join } from 'node:path'
import type { Logger } from '@pnet/network'
import type { Node } from '@pnet/node'
import { MAX_PUSH_CHUNK_BYTES, PUSH_TREE_QUEUE_BYTES } from '../limits.js'
import type { Job, PushSpec } from '../protocol/job.js'
import type { FinalReport } from '../protocol/reports.js'
import { lookupUser } from './executor.js'
import { type LocalPushSink, servePushTree } from './push-tree.js'

/** Broadcast channel of push chunks: `u8 version=1 | 16 bytes job ID | u64 offset (big-endian) | data`. */
export const CHUNK_CHANNEL = '/pnet/ops/chunk/1'
const CHUNK_HEADER_BYTES = 1 + 16 + 8

/**
 * A push chunk's wire bytes.
 *
 * @example
 * ```ts
 * await node.broadcast(CHUNK_CHANNEL, encodeChunk(jobId, 0, bytes), { targets })
 * ```
 */
export function encodeChunk(jobId: string, offset: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + data.byteLength)
  out[0] = 1
  out.set(Buffer.from(jobId, 'hex'), 1)
  new DataView(out.buffer).setBigUint64(17, BigInt(offset))
  out.set(data, CHUNK_HEADER_BYTES)
  return out
}

/** Parses a chunk; throws naming what is wrong. */
export function decodeChunk(bytes: Uint8Array): { jobId: string; offset: number; data: Uint8Array } {
  if (bytes.byteLength < CHUNK_HEADER_BYTES || bytes[0] !== 1) throw new Error('not a version 1 push chunk')
  if (bytes.byteLength - CHUNK_HEADER_BYTES > MAX_PUSH_CHUNK_BYTES) {
    throw new Error(`push chunk of ${bytes.byteLength - CHUNK_HEADER_BYTES} bytes is over ${MAX_PUSH_CHUNK_BYTES}`)
  }
  const offset = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(17)
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('push chunk offset out of range')
  return {
    jobId: Buffer.from(bytes.subarray(1, 17)).toString('hex'),
    offset: Number(offset),
    data: bytes.subarray(CHUNK_HEADER_BYTES),
  }
}

/** Checks a push spec from a (signed, trusted) job before anything touches the disk. */
export function checkPushSpec(p: PushSpec): void {
  if (typeof p.path !== 'string' || !isAbsolute(p.path) || p.path.includes('\0')) {
    throw new Error(`push destination must be an absolute path, got ${JSON.stringify(p.path)}`)
  }
  if (!Number.isSafeInteger(p.size) || p.size < 0) throw new Error(`push size ${String(p.size)} is not a byte count`)
  if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) throw new Error('push sha256 is not 64 hex')
  if (typeof p.mode !== 'string' || !/^0?[0-7]{3,4}$/.test(p.mode)) throw new Error(`push mode ${p.mode} is not octal`)
  if (!Number.isSafeInteger(p.chunkBytes) || p.chunkBytes < 1 || p.chunkBytes > MAX_PUSH_CHUNK_BYTES) {
    throw new Error(`push chunk size ${String(p.chunkBytes)} is not 1..${MAX_PUSH_CHUNK_BYTES}`)
  }
  if (!Number.isSafeInteger(p.timeoutMs) || p.timeoutMs < 1) throw new Error('push timeout must be positive')
}

interface Transfer {
  spec: PushSpec
  file: FileHandle
  temp: string
  /** offsets written, so a chunk that arrives twice (a route shift) is not counted twice */
  seen: Set<number>
  received: number
  /** the file came as a push tree stream: its bytes were hashed as they were written */
  streamed: boolean
  /** hex sha256 of what was written, when streamed */
  digest?: string
  complete: () => void
  fail: (err: Error) => void
}

export interface PushReceiverInit {
  node: Node
  log: Logger
  /** replaces `{host}` in destination paths (several agents on one machine, e.g. a test fleet, keep apart) */
  host: string
}

/**
 * @example
 * ```ts
 * const pushes = new PushReceiver({ node, log })
 * const final = await pushes.receive(job, cancel.signal)   // after the job was verified and claimed
 * ```
 */
export class PushReceiver {
  readonly #transfers = new Map<string, Transfer>()
  readonly #host: string

  constructor(init: PushReceiverInit) {
    this.#host = init.host
    servePushTree({ node: init.node, attach: (jobId, size) => this.#attach(jobId, size) })
    init.node.handleBroadcast(CHUNK_CHANNEL, async msg => {
      const chunk = decodeChunk(msg.payload)
      const t = this.#transfers.get(chunk.jobId)
      // HANDLER_FAILED at the controller: it stops sending to us and reports why
      if (t === undefined) throw new Error(`no push ${chunk.jobId} in progress here`)
      if (chunk.offset % t.spec.chunkBytes !== 0 || chunk.offset + chunk.data.byteLength > t.spec.size) {
        throw new Error(`chunk at ${chunk.offset} (+${chunk.data.byteLength}) does not fit the file`)
      }
      if (t.streamed) throw new Error(`push ${chunk.jobId} is arriving as a stream`)
      if (t.seen.has(chunk.offset)) return
      t.seen.add(chunk.offset)
      await t.file.write(chunk.data, 0, chunk.data.byteLength, chunk.offset)
      t.received += chunk.data.byteLength
      if (t.received === t.spec.size) t.complete()
    })
  }

  /** The local end of a push tree stream for job `jobId`: sequential writes straight to the file, hashed on the way. */
  #attach(jobId: string, size: number): LocalPushSink {
    const t = this.#transfers.get(jobId)
    if (t === undefined) throw new Error(`no push ${jobId} in progress here`)
    if (size !== t.spec.size) throw new Error(`push stream of ${size} bytes for a file of ${t.spec.size}`)
    if (t.streamed || t.seen.size > 0) throw new Error(`push ${jobId} is already arriving here`)
    t.streamed = true
    return new FileSink(t)
  }

  /** Receives the file of a verified, claimed push job; resolves with its final report (never rejects). */
  async receive(job: Job, signal: AbortSignal): Promise<FinalReport> {
    const started = performance.now()
    const result = (status: FinalReport['status'], error?: string): FinalReport => ({
      type: 'result',
      status,
      exitCode: status === 'ok' ? 0 : null,
      signal: null,
      durationMs: Math.round(performance.now() - started),
      error,
    })
    const given = job.push as PushSpec
    const spec: PushSpec = { ...given, path: String(given.path).replaceAll('{host}', this.#host) }
    try {
      checkPushSpec(spec)
    } catch (err) {
      return result('failed', (err as Error).message)
    }
    const temp = join(dirname(spec.path), `.${basename(spec.path)}.ops-agent-${job.id.slice(0, 12)}.part`)
    let file: FileHandle
    try {
      file = await open(temp, 'wx', 0o600)
    } catch (err) {
      return result('failed', `cannot create ${temp}: ${(err as Error).message}`)
    }
    let done = false
    try {
      const complete = new Promise<void>((resolve, reject) => {
        const t: Transfer = {
          spec,
          file,
          temp,
          seen: new Set(),
          received: 0,
          streamed: false,
          complete: resolve,
          fail: reject,
        }
        this.#transfers.set(job.id, t)
        if (spec.size === 0) resolve()
      })
      const ended = await Promise.race([
        complete.then(() => 'complete' as const),
        new Promise<'timeout'>(r => setTimeout(() => r('timeout'), spec.timeoutMs).unref()),
        new Promise<'cancelled'>(r => signal.addEventListener('abort', () => r('cancelled'), { once: true })),
      ])
      const t = this.#transfers.get(job.id)
      const got = t?.received ?? 0
      this.#transfers.delete(job.id)
      if (ended === 'timeout') {
        return result('timeout', `the file did not arrive within ${spec.timeoutMs} ms (${got} of ${spec.size} bytes)`)
      }
      if (ended === 'cancelled') {
        const why = signal.reason instanceof Error ? signal.reason.message : 'cancelled by the controller'
        return result('cancelled', why)
      }
      await file.sync()
      await file.close()
      // streamed bytes were hashed in order as they went to the file; chunks (any order) are hashed from the file
      const sum = t?.digest ?? (await sha256Of(temp))
      if (sum !== spec.sha256) return result('failed', `sha256 mismatch: got ${sum}, expected ${spec.sha256}`)
      await chmod(temp, Number.parseInt(spec.mode, 8))
      if (spec.owner !== undefined) {
        const { uid, gid } = lookupUser(spec.owner)
        await chown(temp, uid, gid)
      }
      await rename(temp, spec.path)
      done = true
      return result('ok')
    } catch (err) {
      return result('failed', (err as Error).message)
    } finally {
      this.#transfers.delete(job.id)
      await file.close().catch(() => {})
      if (!done) await rm(temp, { force: true }).catch(() => {})
    }
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Writes a push tree stream's bytes to the temporary file in order, each batch of pieces in one positional writev
 * (no copy, no per-piece syscall), hashing them as they pass; holds at most PUSH_TREE_QUEUE_BYTES not yet written.
 */
class FileSink implements LocalPushSink {
  readonly #t: Transfer
  readonly #hash = createHash('sha256')
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  #position = 0
  #ending = false
  #writing: Promise<void> | undefined
  #error: Error | undefined
  #drain: (() => void) | undefined

  constructor(t: Transfer) {
    this.#t = t
  }

  write(chunk: Uint8Array): void {
    if (this.#error !== undefined) return
    this.#hash.update(chunk)
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.byteLength
    // one writev per WRITE_BATCH_BYTES (pieces come as the transport cut them: a syscall each would cost more than
    // the copy into the page cache)
    if (this.#pendingBytes >= WRITE_BATCH_BYTES) this.#writing ??= this.#flush()
  }

  async #flush(): Promise<void> {
    try {
      while ((this.#pendingBytes >= WRITE_BATCH_BYTES || (this.#ending && this.#pending.length > 0)) && !this.#error) {
        const batch = this.#pending.splice(0, IOV_BATCH)
        let bytes = 0
        for (const b of batch) bytes += b.byteLength
        const { bytesWritten } = await this.#t.file.writev(batch, this.#position)
        if (bytesWritten !== bytes) throw new Error(`short write to ${this.#t.temp} (${bytesWritten} of ${bytes})`)
        this.#position += bytes
        this.#pendingBytes -= bytes
        this.#t.received = this.#position
        if (this.#pendingBytes <= PUSH_TREE_QUEUE_BYTES) this.#wake()
      }
    } catch (err) {
      this.fail(err as Error)
    } finally {
      this.#writing = undefined
      this.#wake()
    }
  }

  #wake(): void {
    const d = this.#drain
    this.#drain = undefined
    d?.()
  }

  drained(): Promise<void> {
    if (this.#pendingBytes <= PUSH_TREE_QUEUE_BYTES || this.#error !== undefined) return Promise.resolve()
    return new Promise(r => {
      this.#drain = r
    })
  }

  async end(): Promise<void> {
    this.#ending = true
    if (this.#pending.length > 0) this.#writing ??= this.#flush()
    while (this.#writing !== undefined) await this.#writing
    if (this.#error !== undefined) throw this.#error
    if (this.#position !== this.#t.spec.size) {
      const e = new Error(`push stream ended after ${this.#position} of ${this.#t.spec.size} bytes`)
      this.fail(e)
      throw e
    }
    this.#t.digest = this.#hash.digest('hex')
    this.#t.complete()
  }

  fail(err: Error): void {
    if (this.#error !== undefined) return
    this.#error = err
    this.#pending = []
    this.#t.fail(err)
    this.#wake()
  }
}

/** Pieces per writev (well under IOV_MAX, 1024 on Linux). */
const IOV_BATCH = 256
/** Bytes gathered before a writev starts. */
const WRITE_BATCH_BYTES = 1024 * 1024
