/**
 * Push tree streams: the bytes of a push flow down the route tree as one long stream per link instead of one
 * broadcast per chunk. Whoever holds the bytes (the controller, then every relay) splits the target list by next hop
 * and opens one `/pnet/ops/push-tree/1` stream per next hop, naming the targets below it; every hop forwards each
 * piece to its children as it arrives (before its own write completes: the hops pipeline), writes it when it is a
 * target, and answers its parent with a FAILED frame per target that did not get the bytes and one DONE when every
 * target below it is accounted for. No per-chunk stream, signature, seen-cache or report; the link's encryption and
 * the stream's order carry the bytes, and the signed job's sha256 (checked by every target before its rename) keeps
 * a relay from altering them undetected. Wire format: docs/protocol/ops.md, "Push tree streams".
 */

import { peerIdFromString } from '@libp2p/peer-id'
import { type ChannelContext, NoSuchChannelError } from '@pnet/channel'
import type { Chunk, Stream } from '@pnet/network'
import type { Node } from '@pnet/node'
import {
  MAX_PUSH_TREE_HOPS,
  MAX_PUSH_TREE_STREAMS,
  MAX_PUSH_TREE_TARGETS,
  PUSH_TREE_QUEUE_BYTES,
  PUSH_TREE_STALL_MS,
  PUSH_TREE_STALL_STEP_MS,
} from '../limits.js'

export const PUSH_TREE_CHANNEL = '/pnet/ops/push-tree/1'
const VERSION = 1
const FIXED_HEADER_BYTES = 1 + 16 + 8 + 4 + 1 + 4
const MAX_PEER_TEXT_BYTES = 128
const MAX_REASON_BYTES = 1024
const FRAME_FAILED = 1
const FRAME_DONE = 2
/** The header must arrive this soon after the stream opens. */
const HEADER_TIMEOUT_MS = 30_000
/** Pieces queued for a child are joined into writes of up to this many bytes. */
const COALESCE_BYTES = 256 * 1024

/** Why a target did not get the bytes (FAILED frame `code`). */
export const PushTreeCode = {
  /** the target's own handling failed: no such push there, a write error */
  FAILED: 1,
  /** a hop had no route (or only the way back) to it */
  NO_ROUTE: 2,
  /** the stream towards it broke, or ended without accounting for it */
  LINK_FAILED: 3,
  /** the next hop does not speak push tree streams (an older agent): send it the bytes some other way */
  UNSUPPORTED: 4,
} as const
export type PushTreeCode = (typeof PushTreeCode)[keyof typeof PushTreeCode]

export interface PushTreeHeader {
  /** 32 hex digits */
  jobId: string
  /** file bytes that follow the header */
  size: number
  /** ms this hop has before it gives up on the stream */
  timeoutMs: number
  /** links this stream has crossed from the controller: 1 for the controller's own streams */
  hop: number
  /** peer IDs (text) of the targets at or below the receiver */
  targets: string[]
}

/**
 * The header frame: `u32 length | u8 version | 16 bytes job | u64 size | u32 timeoutMs | u8 hop | u32 count |
 * targets`.
 */
export function encodePushTreeHeader(h: PushTreeHeader): Uint8Array {
  const names = h.targets.map(t => Buffer.from(t, 'utf8'))
  const body = FIXED_HEADER_BYTES + names.reduce((a, n) => a + 1 + n.byteLength, 0)
  const out = Buffer.allocUnsafe(4 + body)
  out.writeUInt32BE(body, 0)
  out[4] = VERSION
  out.set(Buffer.from(h.jobId, 'hex'), 5)
  out.writeBigUInt64BE(BigInt(h.size), 21)
  out.writeUInt32BE(h.timeoutMs, 29)
  out[33] = h.hop
  out.writeUInt32BE(names.length, 34)
  let at = 4 + FIXED_HEADER_BYTES
  for (const n of names) {
    out[at++] = n.byteLength
    out.set(n, at)
    at += n.byteLength
  }
  return out
}

/** Parses a header body (after its length); throws naming what is wrong. */
export function decodePushTreeHeader(b: Uint8Array): PushTreeHeader {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (buf.byteLength < FIXED_HEADER_BYTES || buf[0] !== VERSION) throw new Error('not a version 1 push tree header')
  const size = buf.readBigUInt64BE(17)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('push tree size out of range')
  const timeoutMs = buf.readUInt32BE(25)
  const hop = buf[29] as number
  const count = buf.readUInt32BE(30)
  if (hop < 1 || hop > MAX_PUSH_TREE_HOPS) throw new Error(`push tree stream at hop ${hop} (1..${MAX_PUSH_TREE_HOPS})`)
  if (count < 1 || count > MAX_PUSH_TREE_TARGETS) throw new Error(`push tree with ${count} targets`)
  if (timeoutMs < 1) throw new Error('push tree timeout must be positive')
  const targets: string[] = []
  let at = FIXED_HEADER_BYTES
  for (let i = 0; i < count; i++) {
    const len = buf[at++]
    if (len === undefined || len < 1 || at + len > buf.byteLength) throw new Error('push tree target list truncated')
    if (len > MAX_PEER_TEXT_BYTES) throw new Error(`push tree target of ${len} bytes`)
    targets.push(buf.toString('utf8', at, at + len))
    at += len
  }
  if (at !== buf.byteLength) throw new Error('push tree header has bytes after its targets')
  return { jobId: buf.toString('hex', 1, 17), size: Number(size), timeoutMs, hop, targets }
}

/** Largest header body for the limits above. */
const MAX_HEADER_BYTES = FIXED_HEADER_BYTES + MAX_PUSH_TREE_TARGETS * (1 + MAX_PEER_TEXT_BYTES)

function failedFrame(index: number, code: PushTreeCode, reason: string): Uint8Array {
  let text = Buffer.from(reason, 'utf8')
  if (text.byteLength > MAX_REASON_BYTES) text = text.subarray(0, MAX_REASON_BYTES)
  const out = Buffer.allocUnsafe(1 + 4 + 1 + 2 + text.byteLength)
  out[0] = FRAME_FAILED
  out.writeUInt32BE(index, 1)
  out[5] = code
  out.writeUInt16BE(text.byteLength, 6)
  out.set(text, 8)
  return out
}

/** Reads exact byte counts from a stream's source; what it read past them is handed back by `rest()`. */
class ExactReader {
  readonly #it: AsyncIterator<Uint8Array>
  #buf: Uint8Array[] = []
  #bytes = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  /** `n` bytes, or undefined when the stream ends first (at a boundary: `clean` true). */
  async read(n: number): Promise<{ bytes?: Uint8Array; clean: boolean }> {
    while (this.#bytes < n) {
      const r = await this.#it.next()
      if (r.done === true) return { clean: this.#bytes === 0 }
      this.#buf.push(r.value)
      this.#bytes += r.value.byteLength
    }
    const all = this.#buf.length === 1 ? (this.#buf[0] as Uint8Array) : Buffer.concat(this.#buf)
    const bytes = all.subarray(0, n)
    this.#buf = all.byteLength > n ? [all.subarray(n)] : []
    this.#bytes -= n
    return { bytes, clean: true }
  }

  /** The bytes already read and not returned, then the rest of the stream, as it comes. */
  async *rest(): AsyncGenerator<Uint8Array> {
    const held = this.#buf
    this.#buf = []
    this.#bytes = 0
    yield* held
    while (true) {
      const r = await this.#it.next()
      if (r.done === true) return
      yield r.value
    }
  }
}

/** A byte queue feeding one stream's sink; the writer waits on `drained()` past PUSH_TREE_QUEUE_BYTES. */
class SinkQueue {
  readonly #items: Chunk[] = []
  #bytes = 0
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #drain: (() => void) | undefined

  get bytes(): number {
    return this.#bytes
  }

  push(chunk: Chunk): void {
    if (this.#ended) return
    this.#items.push(chunk)
    this.#bytes += chunk.byteLength
    this.#wake?.()
  }

  end(err?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = err
    if (err !== undefined) {
      this.#items.length = 0
      this.#bytes = 0
    }
    this.#wake?.()
    this.#drain?.()
  }

  /** Resolves once the queue is under its high-water mark (or ended). */
  drained(): Promise<void> {
    if (this.#bytes <= PUSH_TREE_QUEUE_BYTES || this.#ended) return Promise.resolve()
    return new Promise(r => {
      this.#drain = r
    })
  }

  /**
   * The queued pieces, several small ones joined into one write of up to COALESCE_BYTES: pieces arrive as the
   * transport cut them (often 10–20 KiB), and every write costs a mux frame, an AEAD message and a syscall per child.
   */
  async *source(): AsyncGenerator<Chunk> {
    while (true) {
      let item = this.#items.shift()
      if (item !== undefined && this.#items.length > 0 && item.byteLength < COALESCE_BYTES) {
        const parts: Uint8Array[] = [item.subarray()]
        let size = item.byteLength
        while (this.#items.length > 0 && size + (this.#items[0] as Chunk).byteLength <= COALESCE_BYTES) {
          const next = this.#items.shift() as Chunk
          parts.push(next.subarray())
          size += next.byteLength
        }
        item = parts.length === 1 ? parts[0] : Buffer.concat(parts, size)
      }
      if (item !== undefined) {
        this.#bytes -= item.byteLength
        if (this.#bytes <= PUSH_TREE_QUEUE_BYTES && this.#drain !== undefined) {
          const d = this.#drain
          this.#drain = undefined
          d()
        }
        yield item
        continue
      }
      if (this.#ended) {
        if (this.#error !== undefined) throw this.#error
        return
      }
      await new Promise<void>(r => {
        this.#wake = r
      })
      this.#wake = undefined
    }
  }
}

export interface FanOutInit {
  node: Node
  jobId: string
  size: number
  timeoutMs: number
  /** the hop number of the streams this opens (1 at the controller) */
  hop: number
  /** peer IDs (text) to reach through next hops; not ourselves */
  targets: string[]
  /** the peer the bytes came from: never sent back there */
  previous?: string
  /** a target that will not get the bytes (called once per target at most) */
  onFailed(index: number, code: PushTreeCode, reason: string): void
  signal: AbortSignal
}

/** The sending half of one hop: one stream per next hop, the same bytes to each. */
export class FanOut {
  readonly #children: { hop: string; queue: SinkQueue; finished: Promise<void>; cut: AbortController }[] = []

  readonly #stallMs: number

  constructor(init: FanOutInit) {
    this.#stallMs = stallMs(init.hop)
    const groups = new Map<string, number[]>()
    const failedOnce = new Set<number>()
    const fail = (index: number, code: PushTreeCode, reason: string): void => {
      if (failedOnce.has(index)) return
      failedOnce.add(index)
      init.onFailed(index, code, reason)
    }
    const self = init.node.id.toString()
    for (let i = 0; i < init.targets.length; i++) {
      const t = init.targets[i] as string
      let hop: string | undefined
      try {
        hop = init.node.router.nextHop(peerIdFromString(t))?.toString()
      } catch {
        fail(i, PushTreeCode.NO_ROUTE, `${t} is not a peer ID`)
        continue
      }
      if (hop === undefined) fail(i, PushTreeCode.NO_ROUTE, `${self} has no route to it`)
      else if (hop === init.previous) fail(i, PushTreeCode.NO_ROUTE, `${self} would send it back to ${hop}`)
      else {
        const g = groups.get(hop)
        if (g === undefined) groups.set(hop, [i])
        else g.push(i)
      }
    }
    for (const [hop, indices] of groups) {
      const queue = new SinkQueue()
      queue.push(
        encodePushTreeHeader({
          jobId: init.jobId,
          size: init.size,
          timeoutMs: init.timeoutMs,
          hop: init.hop,
          targets: indices.map(i => init.targets[i] as string),
        }),
      )
      const cut = new AbortController()
      const finished = this.#child(init, hop, indices, queue, fail, cut.signal)
      this.#children.push({ hop, queue, finished, cut })
    }
  }

  async #child(
    init: FanOutInit,
    hop: string,
    indices: number[],
    queue: SinkQueue,
    fail: (index: number, code: PushTreeCode, reason: string) => void,
    cut: AbortSignal,
  ): Promise<void> {
    let stream: Stream | undefined
    const accounted = new Set<number>()
    const failAll = (code: PushTreeCode, reason: string): void => {
      for (let k = 0; k < indices.length; k++) if (!accounted.has(k)) fail(indices[k] as number, code, reason)
    }
    // a child that stops reading (or answering) must not hold the sender past its deadline
    const onAbort = (): void => stream?.abort(new Error(`push stream through ${hop} timed out`))
    init.signal.addEventListener('abort', onAbort, { once: true })
    const onCut = (): void => {
      const err = cut.reason instanceof Error ? cut.reason : new Error(String(cut.reason))
      queue.end(err)
      stream?.abort(err)
    }
    cut.addEventListener('abort', onCut, { once: true })
    try {
      const opening = init.node.openStream(peerIdFromString(hop), PUSH_TREE_CHANNEL, {
        signal: AbortSignal.any([init.signal, cut]),
      })
      stream = (await opening).stream
      if (cut.aborted) throw cut.reason
      const sending = stream.sink(queue.source())
      sending.catch(() => {})
      const reader = new ExactReader(stream.source)
      while (true) {
        const head = await reader.read(1)
        if (head.bytes === undefined) throw new Error(`${hop} ended the push stream without DONE`)
        if (head.bytes[0] === FRAME_DONE) break
        if (head.bytes[0] !== FRAME_FAILED) throw new Error(`${hop} sent push frame type ${head.bytes[0]}`)
        const fixed = (await reader.read(7)).bytes
        if (fixed === undefined) throw new Error(`${hop} ended the push stream inside a frame`)
        const f = Buffer.from(fixed.buffer, fixed.byteOffset, fixed.byteLength)
        const k = f.readUInt32BE(0)
        const code = f[4] as PushTreeCode
        const len = f.readUInt16BE(5)
        if (len > MAX_REASON_BYTES) throw new Error(`${hop} sent a push failure reason of ${len} bytes`)
        const text = len === 0 ? new Uint8Array(0) : (await reader.read(len)).bytes
        if (text === undefined) throw new Error(`${hop} ended the push stream inside a frame`)
        if (k >= indices.length || accounted.has(k)) throw new Error(`${hop} sent a push failure for target ${k}`)
        accounted.add(k)
        fail(indices[k] as number, code, Buffer.from(text).toString('utf8'))
      }
      await sending
      for (let k = 0; k < indices.length; k++) accounted.add(k)
      await stream.close({ signal: init.signal }).catch(() => {})
    } catch (err) {
      queue.end(err as Error)
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      const code = (err as { code?: string }).code
      if (cut.aborted) failAll(PushTreeCode.LINK_FAILED, (cut.reason as Error).message)
      else if (err instanceof NoSuchChannelError || code === 'ERR_NO_SUCH_CHANNEL')
        failAll(PushTreeCode.UNSUPPORTED, `${hop} has no ${PUSH_TREE_CHANNEL}`)
      else if (init.signal.aborted) failAll(PushTreeCode.LINK_FAILED, `push stream through ${hop} timed out`)
      else failAll(PushTreeCode.LINK_FAILED, `push stream through ${hop}: ${(err as Error).message}`)
    } finally {
      init.signal.removeEventListener('abort', onAbort)
      cut.removeEventListener('abort', onCut)
    }
  }

  /**
   * Hands a piece to every child still listening; resolves when none of them holds too much. A child that takes
   * nothing for stallMs(hop) is cut off (its targets fail) rather than holding the whole tree until the deadline.
   */
  async write(chunk: Uint8Array): Promise<void> {
    for (const c of this.#children) c.queue.push(chunk)
    for (const c of this.#children) {
      if (c.queue.bytes <= PUSH_TREE_QUEUE_BYTES) continue
      let timer: NodeJS.Timeout | undefined
      const stalled = await Promise.race([
        c.queue.drained().then(() => false),
        new Promise<boolean>(r => {
          timer = setTimeout(() => r(true), this.#stallMs)
        }),
      ])
      clearTimeout(timer)
      if (stalled) c.cut.abort(new Error(`${c.hop} took no push bytes for ${this.#stallMs} ms`))
    }
  }

  /** No more bytes; resolves when every target below is accounted for (DONE or failed). */
  async end(): Promise<void> {
    for (const c of this.#children) c.queue.end()
    await Promise.all(this.#children.map(c => c.finished))
  }

  /** The bytes stop short: every child stream is reset, so no target below takes a partial file for a whole one. */
  abort(err: Error): void {
    for (const c of this.#children) c.queue.end(err)
  }
}

/**
 * How long a hop waits on a child that takes nothing before cutting it off: less the deeper the hop, so the hop right
 * above a stuck host cuts it first and its own parent, which waits on it meanwhile, does not cut the whole branch.
 */
export function stallMs(hop: number): number {
  return PUSH_TREE_STALL_MS + Math.max(0, MAX_PUSH_TREE_HOPS - hop) * PUSH_TREE_STALL_STEP_MS
}

/** What a target does with the bytes: PushReceiver.attach gives one. */
export interface LocalPushSink {
  write(chunk: Uint8Array): void
  /** resolves once the writes are under the high-water mark */
  drained(): Promise<void>
  /** every byte is in: flush, finish the hash */
  end(): Promise<void>
  fail(err: Error): void
}

export interface PushTreeServerInit {
  node: Node
  /** the local end of a push, when this agent is receiving job `jobId` */
  attach(jobId: string, size: number): LocalPushSink
}

/** Serves push tree streams: forwards down, writes locally, reports up. */
export function servePushTree(init: PushTreeServerInit): void {
  init.node.handle(PUSH_TREE_CHANNEL, (stream, ctx) => relay(init, stream, ctx), {
    maxConcurrent: MAX_PUSH_TREE_STREAMS,
  })
}

async function readHeader(reader: ExactReader): Promise<PushTreeHeader> {
  const len = (await reader.read(4)).bytes
  if (len === undefined) throw new Error('push tree stream ended before its header')
  const bodyLen = Buffer.from(len.buffer, len.byteOffset, 4).readUInt32BE(0)
  if (bodyLen > MAX_HEADER_BYTES) throw new Error(`push tree header of ${bodyLen} bytes`)
  const body = (await reader.read(bodyLen)).bytes
  if (body === undefined) throw new Error('push tree stream ended inside its header')
  return decodePushTreeHeader(body)
}

async function relay(init: PushTreeServerInit, stream: Stream, ctx: ChannelContext): Promise<void> {
  const up = new SinkQueue()
  const replying = stream.sink(up.source())
  replying.catch(() => {})
  const reader = new ExactReader(stream.source)
  const headerTimer = setTimeout(() => stream.abort(new Error('no push tree header in time')), HEADER_TIMEOUT_MS)
  let h: PushTreeHeader
  try {
    h = await readHeader(reader)
  } catch (err) {
    return stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    clearTimeout(headerTimer)
  }
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(h.timeoutMs)])
  // a parent that stalls past the deadline: reset, so the read below ends and the children are reset in turn
  signal.addEventListener('abort', () => stream.abort(new Error('push tree stream timed out')), { once: true })
  const self = init.node.id.toString()
  const localIndex = h.targets.indexOf(self)
  const others: number[] = []
  for (let i = 0; i < h.targets.length; i++) if (i !== localIndex) others.push(i)
  const failed = new Set<number>()
  const fail = (index: number, code: PushTreeCode, reason: string): void => {
    if (failed.has(index)) return
    failed.add(index)
    up.push(failedFrame(index, code, reason))
  }
  let local: LocalPushSink | undefined
  if (localIndex >= 0) {
    try {
      local = init.attach(h.jobId, h.size)
    } catch (err) {
      fail(localIndex, PushTreeCode.FAILED, (err as Error).message)
    }
  }
  const fan = new FanOut({
    node: init.node,
    jobId: h.jobId,
    size: h.size,
    timeoutMs: Math.max(1, h.timeoutMs - 1_000),
    hop: h.hop + 1,
    targets: others.map(i => h.targets[i] as string),
    previous: ctx.remotePeer.toString(),
    onFailed: (k, code, reason) => fail(others[k] as number, code, reason),
    signal,
  })
  let got = 0
  try {
    for await (const chunk of reader.rest()) {
      if (signal.aborted) throw new Error('push tree stream timed out')
      got += chunk.byteLength
      if (got > h.size) throw new Error(`push tree stream carries more than ${h.size} bytes`)
      const sent = fan.write(chunk)
      if (local !== undefined) {
        local.write(chunk)
        await local.drained()
      }
      await sent
    }
    if (got !== h.size) throw new Error(`push tree stream ended after ${got} of ${h.size} bytes`)
  } catch (err) {
    // the parent is gone or misbehaved: nobody is left to report to, and no child may take this for a whole file
    const e = err instanceof Error ? err : new Error(String(err))
    fan.abort(e)
    local?.fail(e)
    up.end(e)
    stream.abort(e)
    return
  }
  const ending = fan.end()
  if (local !== undefined) {
    try {
      await local.end()
    } catch (err) {
      fail(localIndex, PushTreeCode.FAILED, (err as Error).message)
    }
  }
  await ending
  up.push(Uint8Array.of(FRAME_DONE))
  up.end()
  await replying.catch(() => {})
}
