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

/**
 * A statement about a member, gossiped and relayed as is. Each has one signer who alone may make it: `alive` and
 * `leave` are signed by the member itself (`id`), `suspect` and `dead` by the accuser (`from`). `sig` is that
 * signer's Ed25519 signature (codec.ts); it travels with the statement when others relay it. Machines run without
 * a codec (the simulator) leave it out.
 */
export type Gossip =
  | { type: 'alive'; id: string; address: string; incarnation: number; meta: MemberMeta; sig?: Uint8Array }
  | { type: 'suspect'; id: string; incarnation: number; from: string; sig?: Uint8Array }
  | { type: 'dead'; id: string; incarnation: number; from: string; sig?: Uint8Array }
  | { type: 'leave'; id: string; incarnation: number; sig?: Uint8Array }

/**
 * The member that must have signed a statement.
 *
 * @example
 * ```ts
 * signerOf({ type: 'suspect', id: 'b', incarnation: 0, from: 'a' })   // 'a'
 * ```
 */
export function signerOf(g: Gossip): string {
  return g.type === 'suspect' || g.type === 'dead' ? g.from : g.id
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
  /**
   * full state as statements: per member its latest `alive` statement, then (when not alive) the statement that
   * made it suspect, dead or left — every one signed by its own signer, so the sender vouches for none of them.
   * `reply` is false on the request (answered with reply: true); `join` marks a joining member
   */
  | { type: 'push-pull'; reply: boolean; join: boolean; statements: Gossip[] }

/** A message for the I/O layer to deliver; `to` is absent when only the address is known (joining a seed). */
export interface Outgoing {
  to?: string
  address: string
  message: SwimMessage
}
