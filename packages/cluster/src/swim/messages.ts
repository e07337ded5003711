/**
 * The membership protocol's messages as values. The state machine consumes and produces these; the wire codec
 * (docs/protocol/cluster.md) turns them into signed bytes. Field meanings are in the protocol document.
 */

/** Per-member metadata, changed at runtime by the member itself (with an incarnation bump). */
export interface MemberMeta {
  readonly tags: Readonly<Record<string, string>>
  /** share of the hash ring; 0 = owns nothing */
  readonly weight: number
}

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left'

/** Gossip piggybacked on probes and acks. `from` is the accuser (the member that signed the statement). */
export type Gossip =
  | { type: 'alive'; id: string; address: string; incarnation: number; meta: MemberMeta }
  | { type: 'suspect'; id: string; incarnation: number; from: string }
  | { type: 'dead'; id: string; incarnation: number; from: string }
  | { type: 'leave'; id: string; incarnation: number }

/** One member's state in a push-pull exchange. */
export interface MemberState {
  id: string
  address: string
  incarnation: number
  status: MemberStatus
  meta: MemberMeta
}

export type SwimMessage =
  /** `target` is the peer ID the sender means: a different member now at that address does not answer */
  | { type: 'ping'; seq: number; target: string; gossip: Gossip[] }
  /** probe `target` at `targetAddress` for me; `nack`: tell me if you get no ack in time (Lifeguard) */
  | { type: 'ping-req'; seq: number; target: string; targetAddress: string; nack: boolean; gossip: Gossip[] }
  | { type: 'ack'; seq: number; gossip: Gossip[] }
  | { type: 'nack'; seq: number; gossip: Gossip[] }
  /** gossip on its own, sent every gossip interval while there is news */
  | { type: 'gossip'; gossip: Gossip[] }
  /** full state; `reply` is false on the request (answered with reply: true); `join` marks a joining member */
  | { type: 'push-pull'; reply: boolean; join: boolean; states: MemberState[] }

/** A message for the I/O layer to deliver; `to` is absent when only the address is known (joining a seed). */
export interface Outgoing {
  to?: string
  address: string
  message: SwimMessage
}
