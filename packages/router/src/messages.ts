/**
 * The router control protocol's messages, as the routing state machine sees them (decoded). The byte layout lives
 * in control-codec.ts and docs/protocol/router.md.
 */
import type { PeerKey } from './peer-key.js'

/** One route advertised by a neighbour: "I reach `dest` with this metric over this many hops". */
export interface RouteUpdate {
  dest: PeerKey
  /**
   * The sender's own slot number for `dest` and that slot's generation: the encoder binds the peer ID to this
   * index on a link once per generation. Decoded updates carry the index from the wire and generation 0.
   */
  index: number
  gen: number
  /** the destination's sequence number this route carries */
  seqno: number
  /** INFINITY_METRIC is a retraction */
  metric: number
  hops: number
}

export interface UpdateMessage {
  type: 'update'
  /** first frame of a full table: entries not repeated before `fullEnd` are gone */
  fullStart: boolean
  /** last frame of a full table */
  fullEnd: boolean
  entries: RouteUpdate[]
}

/** "Send me your whole table" (after a digest mismatch). */
export interface RouteRequestMessage {
  type: 'route-request'
}

/** "I need a route to `dest` with at least this seqno" (escapes starvation, RFC 8966 §3.8.1.2). */
export interface SeqnoRequestMessage {
  type: 'seqno-request'
  dest: PeerKey
  seqno: number
  /** decremented at each hop; 1 means do not forward */
  hopCount: number
}

/** Summary of the sender's advertised table: entry count and a 64-bit order-independent hash. */
export interface DigestMessage {
  type: 'digest'
  count: number
  h1: number
  h2: number
}

export interface PingMessage {
  type: 'ping'
  nonce: number
}

export interface PongMessage {
  type: 'pong'
  nonce: number
}

export type ControlMessage =
  | UpdateMessage
  | RouteRequestMessage
  | SeqnoRequestMessage
  | DigestMessage
  | PingMessage
  | PongMessage
