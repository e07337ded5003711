/**
 * The binary wire format of Raft messages (docs/protocol/raft.md). The decoder is strict: every length and count is
 * checked against src/limits.ts before anything is allocated, varints must be minimal and safe integers, flags have
 * no unknown bits, entries are consecutive, and no byte may follow the message. Any violation is a RaftDecodeError.
 */
import { RaftDecodeError } from './errors.js'
import {
  MAX_ENTRIES_PER_APPEND,
  MAX_ENTRY_BYTES,
  MAX_MEMBER_ID_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_VARINT_BYTES,
  WIRE_VERSION,
} from './limits.js'
import type { ConfChange, Entry, HardState, Message, MessageType } from './types.js'

/** Type codes on the wire; the order is part of the protocol. */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'PreVote',
  'PreVoteResp',
  'Vote',
  'VoteResp',
  'App',
  'AppResp',
  'Heartbeat',
  'HeartbeatResp',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResp',
]
const TYPE_CODE = new Map(MESSAGE_TYPES.map((t, i) => [t, i + 1]))
const CONF_OPS: readonly ConfChange['op'][] = ['add-learner', 'promote', 'remove']

const FLAG_REJECT = 1
const FLAG_TRANSFER = 2
const ENTRY_NORMAL = 0
const ENTRY_CONF = 1
const CONF_FLAG_PROMOTE = 1

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

class Writer {
  private buf = new Uint8Array(256)
  length = 0
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }
  u8(v: number): void {
    this.ensure(1)
    this.buf[this.length++] = v
  }
  uvarint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a non-negative safe integer: ${v}`)
    this.ensure(MAX_VARINT_BYTES)
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.length++] = v
  }
  bytes(b: Uint8Array): void {
    this.uvarint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
  }
  string(s: string): void {
    this.bytes(encoder.encode(s))
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

class Reader {
  offset = 0
  constructor(private readonly buf: Uint8Array) {}
  fail(reason: string): never {
    throw new RaftDecodeError(reason, this.offset)
  }
  u8(): number {
    if (this.offset >= this.buf.length) this.fail('truncated')
    return this.buf[this.offset++]!
  }
  uvarint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.u8()
      value += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail('varint not minimal')
        if (!Number.isSafeInteger(value)) this.fail('varint above 2^53 - 1')
        return value
      }
      scale *= 0x80
    }
    return this.fail('varint too long')
  }
  bytes(max: number, what: string): Uint8Array {
    const n = this.uvarint()
    if (n > max) this.fail(`${what} of ${n} bytes exceeds ${max}`)
    if (this.offset + n > this.buf.length) this.fail('truncated')
    const out = this.buf.slice(this.offset, this.offset + n)
    this.offset += n
    return out
  }
  string(max: number, what: string): string {
    const b = this.bytes(max, what)
    try {
      return decoder.decode(b)
    } catch {
      return this.fail(`${what} is not UTF-8`)
    }
  }
  end(): void {
    if (this.offset !== this.buf.length) this.fail('trailing bytes')
  }
}

/**
 * Encode one message.
 *
 * @example
 * ```ts
 * const bytes = encodeMessage(message)
 * decodeMessage(bytes) // deep-equals message
 * ```
 */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer()
  w.u8(WIRE_VERSION)
  w.u8(TYPE_CODE.get(m.type) ?? 0)
  w.string(m.from)
  w.string(m.to)
  w.uvarint(m.term)
  w.uvarint(m.logTerm)
  w.uvarint(m.index)
  w.uvarint(m.commit)
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.transfer ? FLAG_TRANSFER : 0))
  w.uvarint(m.rejectHint)
  w.uvarint(m.context)
  w.uvarint(m.entries.length)
  for (const e of m.entries) writeEntry(w, e)
  if (w.length > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${w.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  return w.done()
}

/** Encode one entry alone (the storage format's entry record payload). */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer()
  writeEntry(w, e)
  return w.done()
}

/** Decode one entry alone, strictly (no trailing bytes). */
export function decodeEntry(bytes: Uint8Array): Entry {
  const r: Reader = new Reader(bytes)
  const e = readEntry(r)
  r.end()
  return e
}

/** Encode a hard state (the storage format's hard-state record payload). */
export function encodeHardState(h: HardState): Uint8Array {
  const w = new Writer()
  w.uvarint(h.term)
  w.string(h.vote)
  w.uvarint(h.commit)
  return w.done()
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const r: Reader = new Reader(bytes)
  const term = r.uvarint()
  const vote = r.string(MAX_MEMBER_ID_BYTES, 'vote')
  const commit = r.uvarint()
  r.end()
  return { term, vote, commit }
}

function writeEntry(w: Writer, e: Entry): void {
  w.uvarint(e.term)
  w.uvarint(e.index)
  if (e.conf === undefined) {
    w.u8(ENTRY_NORMAL)
    w.bytes(e.data)
  } else {
    w.u8(ENTRY_CONF)
    w.u8(CONF_OPS.indexOf(e.conf.op))
    w.u8(e.conf.promote === true ? CONF_FLAG_PROMOTE : 0)
    w.string(e.conf.member)
  }
}

/**
 * Decode one message, strictly. Throws RaftDecodeError (code ERR_RAFT_DECODE) with `reason` and `offset`.
 *
 * @example
 * ```ts
 * try { core.step(decodeMessage(frame)) } catch (err) {
 *   if (err instanceof RaftDecodeError) closeStream(err.reason)
 * }
 * ```
 */
export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length > MAX_MESSAGE_BYTES)
    throw new RaftDecodeError(`message of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}`, 0)
  const r: Reader = new Reader(bytes)
  const version = r.u8()
  if (version !== WIRE_VERSION) r.fail(`unknown version ${version}`)
  const code = r.u8()
  const type = MESSAGE_TYPES[code - 1]
  if (type === undefined) r.fail(`unknown message type ${code}`)
  const from = r.string(MAX_MEMBER_ID_BYTES, 'from')
  const to = r.string(MAX_MEMBER_ID_BYTES, 'to')
  if (from === '' || to === '') r.fail('empty member ID')
  const term = r.uvarint()
  const logTerm = r.uvarint()
  const index = r.uvarint()
  const commit = r.uvarint()
  const flags = r.u8()
  if ((flags & ~(FLAG_REJECT | FLAG_TRANSFER)) !== 0) r.fail(`unknown flags ${flags}`)
  const rejectHint = r.uvarint()
  const context = r.uvarint()
  const count = r.uvarint()
  if (count > 0 && type !== 'App') r.fail(`${type} carries no entries`)
  if (count > MAX_ENTRIES_PER_APPEND) r.fail(`${count} entries exceed ${MAX_ENTRIES_PER_APPEND}`)
  const entries: Entry[] = []
  for (let i = 0; i < count; i++) {
    const e = readEntry(r)
    if (e.index !== index + 1 + i) r.fail(`entry index ${e.index} where ${index + 1 + i} belongs`)
    if (e.term > term) r.fail(`entry term ${e.term} above message term ${term}`)
    if (i > 0 && e.term < entries[i - 1]!.term) r.fail('entry terms decrease')
    entries.push(e)
  }
  r.end()
  return {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
    transfer: (flags & FLAG_TRANSFER) !== 0,
  }
}

function readEntry(r: Reader): Entry {
  const term = r.uvarint()
  const index = r.uvarint()
  if (term === 0 || index === 0) r.fail('entry term and index start at 1')
  const kind = r.u8()
  if (kind === ENTRY_NORMAL) return { term, index, data: r.bytes(MAX_ENTRY_BYTES, 'entry data') }
  if (kind !== ENTRY_CONF) r.fail(`unknown entry kind ${kind}`)
  const op = CONF_OPS[r.u8()]
  if (op === undefined) r.fail('unknown membership change')
  const flags = r.u8()
  if ((flags & ~CONF_FLAG_PROMOTE) !== 0 || (flags !== 0 && op !== 'add-learner')) r.fail(`bad change flags ${flags}`)
  const member = r.string(MAX_MEMBER_ID_BYTES, 'member')
  if (member === '') r.fail('empty member ID')
  const conf: ConfChange = flags === CONF_FLAG_PROMOTE ? { op, member, promote: true } : { op, member }
  return { term, index, data: new Uint8Array(0), conf }
}
