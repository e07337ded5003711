/**
 * yamux frames (https://github.com/hashicorp/yamux/blob/master/spec.md), as libp2p uses them:
 *
 *   version u8 (0) | type u8 | flags u16 BE | stream ID u32 BE | length u32 BE | data (type DATA only)
 *
 * `length` is the payload size for DATA, the window delta for WINDOW_UPDATE, the opaque value for PING and the
 * error code for GO_AWAY.
 */
import { ProtocolViolationError, withoutStack } from '../errors.js'

export const HEADER_LENGTH = 12
export const VERSION = 0

export const Type = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const
export const Flag = { SYN: 1, ACK: 2, FIN: 4, RST: 8 } as const
export const GoAwayCode = { Normal: 0, ProtocolError: 1, InternalError: 2 } as const

/** The window every stream starts with, fixed by the spec (both sides assume it without negotiation). */
export const INITIAL_WINDOW = 256 * 1024

export interface Header {
  type: number
  flags: number
  streamId: number
  length: number
}

export function encodeHeader(type: number, flags: number, streamId: number, length: number): Uint8Array {
  const h = Buffer.allocUnsafe(HEADER_LENGTH)
  h[0] = VERSION
  h[1] = type
  h.writeUInt16BE(flags, 2)
  h.writeUInt32BE(streamId, 4)
  h.writeUInt32BE(length, 8)
  return h
}

export interface FrameSink {
  /** A complete header; for DATA frames the payload follows through `data`. */
  header(h: Header): void
  /** a piece of the current DATA frame's payload (pieces arrive as they are decrypted, not joined) */
  data(streamId: number, piece: Uint8Array, last: boolean): void
  /**
   * Asked after each header: true stops `push` right there (the caller feeds the rest later). How a session spreads
   * a burst of frames over event-loop turns.
   */
  stop?(): boolean
}

/**
 * Incremental decoder: takes plaintext pieces of any size, emits headers and payload pieces. Rejects a bad version
 * or type, and a DATA frame longer than `maxFrame`, at the header, before any payload is held. The errors carry no
 * stack (the remote caused them; the stack would only show this loop).
 */
export class FrameDecoder {
  readonly #header = Buffer.alloc(HEADER_LENGTH)
  #have = 0
  #dataLeft = 0
  #dataStream = 0

  constructor(
    readonly sink: FrameSink,
    readonly peer: string,
    readonly maxFrame: number,
  ) {}

  /** Decodes `buf`; returns the bytes consumed, fewer than given only when the sink's `stop()` said so. */
  push(buf: Uint8Array): number {
    let pos = 0
    const end = buf.byteLength
    while (pos < end) {
      if (this.#dataLeft > 0) {
        const n = Math.min(this.#dataLeft, end - pos)
        this.#dataLeft -= n
        this.sink.data(this.#dataStream, buf.subarray(pos, pos + n), this.#dataLeft === 0)
        pos += n
        continue
      }
      const n = Math.min(HEADER_LENGTH - this.#have, end - pos)
      this.#header.set(buf.subarray(pos, pos + n), this.#have)
      this.#have += n
      pos += n
      if (this.#have < HEADER_LENGTH) return pos
      this.#have = 0
      const h = this.#header
      const header: Header = {
        type: h[1]!,
        flags: h.readUInt16BE(2),
        streamId: h.readUInt32BE(4),
        length: h.readUInt32BE(8),
      }
      if (h[0] !== VERSION || header.type > Type.GoAway) {
        const reason = `bad yamux header (version ${h[0]}, type ${header.type})`
        throw withoutStack(() => new ProtocolViolationError(this.peer, reason))
      }
      if (header.type === Type.Data && header.length > this.maxFrame) {
        const reason = `yamux data frame of ${header.length} bytes exceeds the ${this.maxFrame}-byte limit`
        throw withoutStack(() => new ProtocolViolationError(this.peer, reason))
      }
      if (header.type === Type.Data && header.length > 0) {
        this.#dataLeft = header.length
        this.#dataStream = header.streamId
      }
      this.sink.header(header)
      if (this.sink.stop?.() === true) return pos
    }
    return pos
  }
}
