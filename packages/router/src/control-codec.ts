/**
 * Byte layout of router control frames (docs/protocol/router.md, "Control channel"). Each direction of a link has
 * its own encoder/decoder pair because destinations are compressed per link: the first time a destination is
 * mentioned on a link its peer ID travels with the sender's index for it (a "binding"); later entries carry only the
 * index. A routine update entry is then 8–10 bytes instead of ~45.
 *
 * @example
 * ```ts
 * const enc = new ControlEncoder(), dec = new ControlDecoder()
 * const frame = enc.encode({ type: 'ping', nonce: 7 })
 * dec.decode(frame)   // { type: 'ping', nonce: 7 }
 * ```
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import { Reader, Writer } from './bytes.js'
import { MalformedMessageError } from './errors.js'
import { INFINITY_METRIC } from './limits.js'
import type { ControlMessage, RouteUpdate } from './messages.js'
import { MAX_PEER_ID_BYTES, type PeerKey, peerKeyFromBytes } from './peer-key.js'

export const MSG_UPDATE = 0x01
export const MSG_ROUTE_REQUEST = 0x02
export const MSG_SEQNO_REQUEST = 0x03
export const MSG_DIGEST = 0x04
export const MSG_PING = 0x05
export const MSG_PONG = 0x06

export const UPDATE_FULL_START = 0x01
export const UPDATE_FULL_END = 0x02

export const ENTRY_BIND = 0x01
export const ENTRY_RETRACT = 0x02

/** Binding indices are below this; a larger one is a protocol error (it bounds the decoder's table). */
export const MAX_BINDINGS = 1 << 20

const WHAT = 'router control frame'

const SKIP = 0
const PLAIN = 1
const BIND = 2
/** the encoder's per-entry plan, reused by every encoder (encoding is synchronous) */
let plan = new Uint8Array(1024)

/** writes `v` as an unsigned varint at `at`; returns the offset after it */
function writeVarint(out: Uint8Array, at: number, v: number): number {
  encodeUint8Array(v, out, at)
  return at + encodingLength(v)
}

/** big-endian */
function writeU16(out: Uint8Array, at: number, v: number): number {
  out[at] = (v >>> 8) & 0xff
  out[at + 1] = v & 0xff
  return at + 2
}

/** Encodes control messages for one link, remembering which destination bindings the far end has. */
export class ControlEncoder {
  /** per sender index: the generation whose binding was sent, 0 if none */
  #bound = new Uint16Array(64)

  /**
   * The frame for `msg`, or undefined when nothing needs to go out: an update whose entries were all retractions of
   * destinations never mentioned on this link (the far end cannot hold a route it never heard of).
   */
  encode(msg: ControlMessage): Uint8Array | undefined {
    switch (msg.type) {
      case 'update':
        return this.#update(msg.entries, msg.fullStart, msg.fullEnd)
      case 'route-request':
        return Uint8Array.of(MSG_ROUTE_REQUEST)
      case 'seqno-request':
        return new Writer(8 + msg.dest.bytes.byteLength)
          .u8(MSG_SEQNO_REQUEST)
          .u16(msg.seqno)
          .u16(msg.hopCount)
          .lp(msg.dest.bytes)
          .finish()
      case 'digest':
        return new Writer(13).u8(MSG_DIGEST).u32(msg.count).u32(msg.h1).u32(msg.h2).finish()
      case 'ping':
        return new Writer(5).u8(MSG_PING).u32(msg.nonce).finish()
      case 'pong':
        return new Writer(5).u8(MSG_PONG).u32(msg.nonce).finish()
    }
  }

  /** true when the entry must carry its peer ID on this link (and records that it will) */
  #bind(e: RouteUpdate): boolean {
    if (e.index < 0 || e.index >= MAX_BINDINGS) throw new RangeError(`binding index ${e.index} out of range`)
    if (e.index >= this.#bound.length) {
      // by half, not doubling: a simulator keeps thousands of these
      let size = this.#bound.length
      while (size <= e.index) size = Math.ceil(size * 1.5)
      const next = new Uint16Array(size)
      next.set(this.#bound)
      this.#bound = next
    }
    if (e.gen !== 0 && this.#bound[e.index] === e.gen) return false
    this.#bound[e.index] = e.gen
    return true
  }

  /** Two passes: what each entry needs (skip, plain, with binding) and the exact frame size, then the bytes. */
  #update(entries: RouteUpdate[], fullStart: boolean, fullEnd: boolean): Uint8Array | undefined {
    const flags = (fullStart ? UPDATE_FULL_START : 0) | (fullEnd ? UPDATE_FULL_END : 0)
    if (plan.length < entries.length) plan = new Uint8Array(Math.max(entries.length, plan.length * 2))
    let count = 0
    let size = 0
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k] as RouteUpdate
      const retract = e.metric >= INFINITY_METRIC
      // a retraction of a destination never mentioned on this link is a no-op for the far end: drop it
      if (retract && e.gen !== 0 && this.#bound[e.index] !== e.gen) {
        plan[k] = SKIP
        continue
      }
      const bind = this.#bind(e)
      plan[k] = bind ? BIND : PLAIN
      count++
      size += 1 + encodingLength(e.index) + 2 + (retract ? 0 : 4)
      if (bind) size += encodingLength(e.dest.bytes.byteLength) + e.dest.bytes.byteLength
    }
    if (count === 0 && flags === 0) return undefined
    const out = new Uint8Array(2 + encodingLength(count) + size)
    out[0] = MSG_UPDATE
    out[1] = flags
    let at = writeVarint(out, 2, count)
    for (let k = 0; k < entries.length; k++) {
      const how = plan[k]
      if (how === SKIP) continue
      const e = entries[k] as RouteUpdate
      const retract = e.metric >= INFINITY_METRIC
      out[at++] = (how === BIND ? ENTRY_BIND : 0) | (retract ? ENTRY_RETRACT : 0)
      at = writeVarint(out, at, e.index)
      if (how === BIND) {
        const bytes = e.dest.bytes
        const n = bytes.length
        at = writeVarint(out, at, n)
        // a loop beats TypedArray#set for ~40 bytes
        for (let b = 0; b < n; b++) out[at + b] = bytes[b] as number
        at += n
      }
      at = writeU16(out, at, e.seqno)
      if (!retract) {
        at = writeU16(out, at, e.metric)
        at = writeU16(out, at, e.hops)
      }
    }
    return out
  }
}

/** Decodes the frames of one link; throws MalformedMessageError on anything that does not follow the spec. */
export class ControlDecoder {
  readonly #table: (PeerKey | undefined)[] = []

  /** The message, or undefined for a frame type this version does not know (ignored, for extensions). */
  decode(frame: Uint8Array): ControlMessage | undefined {
    const r = new Reader(frame, WHAT)
    const type = r.u8('type')
    let msg: ControlMessage | undefined
    switch (type) {
      case MSG_UPDATE:
        msg = this.#update(r)
        break
      case MSG_ROUTE_REQUEST:
        msg = { type: 'route-request' }
        break
      case MSG_SEQNO_REQUEST: {
        const seqno = r.u16('seqno')
        const hopCount = r.u16('hop count')
        const dest = peerKey(r.lp('destination', MAX_PEER_ID_BYTES))
        msg = { type: 'seqno-request', seqno, hopCount, dest }
        break
      }
      case MSG_DIGEST:
        msg = { type: 'digest', count: r.u32('count'), h1: r.u32('hash'), h2: r.u32('hash') }
        break
      case MSG_PING:
        msg = { type: 'ping', nonce: r.u32('nonce') }
        break
      case MSG_PONG:
        msg = { type: 'pong', nonce: r.u32('nonce') }
        break
      default:
        return undefined
    }
    r.end()
    return msg
  }

  #update(r: Reader): ControlMessage {
    const flags = r.u8('flags')
    if ((flags & ~(UPDATE_FULL_START | UPDATE_FULL_END)) !== 0) {
      throw new MalformedMessageError(WHAT, `unknown update flags 0x${flags.toString(16)}`)
    }
    // every entry takes at least 4 bytes, which bounds the count before anything is allocated
    const count = r.varint('entry count', Math.floor(r.remaining / 4))
    const entries: RouteUpdate[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const eflags = r.u8('entry flags')
      if ((eflags & ~(ENTRY_BIND | ENTRY_RETRACT)) !== 0) {
        throw new MalformedMessageError(WHAT, `unknown entry flags 0x${eflags.toString(16)}`)
      }
      const index = r.varint('index', MAX_BINDINGS - 1)
      let dest: PeerKey | undefined
      if ((eflags & ENTRY_BIND) !== 0) {
        dest = peerKey(r.lp('destination', MAX_PEER_ID_BYTES))
        this.#table[index] = dest
      } else {
        dest = this.#table[index]
        if (dest === undefined) throw new MalformedMessageError(WHAT, `index ${index} was never bound`)
      }
      const seqno = r.u16('seqno')
      let metric = INFINITY_METRIC
      let hops = 0
      if ((eflags & ENTRY_RETRACT) === 0) {
        metric = r.u16('metric')
        hops = r.u16('hops')
        if (metric === INFINITY_METRIC) throw new MalformedMessageError(WHAT, 'infinite metric without RETRACT flag')
      }
      entries[i] = { dest, index, gen: 0, seqno, metric, hops }
    }
    return {
      type: 'update',
      fullStart: (flags & UPDATE_FULL_START) !== 0,
      fullEnd: (flags & UPDATE_FULL_END) !== 0,
      entries,
    }
  }
}

function peerKey(bytes: Uint8Array): PeerKey {
  try {
    return peerKeyFromBytes(bytes)
  } catch (err) {
    throw new MalformedMessageError(WHAT, err instanceof Error ? err.message : String(err))
  }
}
