/**
 * Peer keys: the router's internal handle for a peer ID. The routing state of thousands of destinations is keyed by
 * the peer ID's binary multihash (a cheap one-byte-per-char string), not by its base58 text, and every key is
 * interned process-wide: a simulator running 1,000 routers in one process keeps one copy of each peer's key, bytes,
 * digest hash and PeerId object instead of 1,000.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'

/** Longest peer ID multihash accepted on the wire (identity-hashed Ed25519/secp256k1 keys are 38–39 bytes). */
export const MAX_PEER_ID_BYTES = 64

export interface PeerKey {
  /** the multihash bytes as a latin1 string: the map key */
  readonly key: string
  /** the multihash bytes, as sent on the wire */
  readonly bytes: Uint8Array
  /** two 32-bit hashes of the bytes, for table digests */
  readonly h1: number
  readonly h2: number
  /** the parsed peer ID */
  readonly peerId: PeerId
  /** base58 text, as users see it */
  readonly text: string
}

const interned = new Map<string, WeakRef<PeerKey>>()
const registry = new FinalizationRegistry<string>(key => {
  const ref = interned.get(key)
  if (ref !== undefined && ref.deref() === undefined) interned.delete(key)
})

/** The peer key of a PeerId. */
export function peerKeyOf(peerId: PeerId): PeerKey {
  const bytes = peerId.toMultihash().bytes
  const key = latin1(bytes)
  const existing = interned.get(key)?.deref()
  if (existing !== undefined) return existing
  return remember(key, bytes, peerId)
}

/**
 * The peer key of multihash bytes received from the wire; throws a TypeError naming the problem when the bytes are
 * not a peer ID.
 */
export function peerKeyFromBytes(bytes: Uint8Array): PeerKey {
  const key = latin1(bytes)
  const existing = interned.get(key)?.deref()
  if (existing !== undefined) return existing
  if (bytes.byteLength < 3 || bytes.byteLength > MAX_PEER_ID_BYTES) {
    throw new TypeError(`peer ID of ${bytes.byteLength} bytes (expected 3..${MAX_PEER_ID_BYTES})`)
  }
  let peerId: PeerId
  try {
    peerId = peerIdFromMultihash(Digest.decode(bytes))
  } catch (err) {
    throw new TypeError(`not a peer ID multihash: ${err instanceof Error ? err.message : String(err)}`)
  }
  return remember(key, bytes.slice(), peerId)
}

function remember(key: string, bytes: Uint8Array, peerId: PeerId): PeerKey {
  const [h1, h2] = hashBytes(bytes)
  let text: string | undefined
  const pk: PeerKey = {
    key,
    bytes,
    h1,
    h2,
    peerId,
    get text() {
      text ??= peerId.toString()
      return text
    },
  }
  interned.set(key, new WeakRef(pk))
  registry.register(pk, key)
  return pk
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** FNV-1a over the bytes, twice with different offsets, each finished with murmur3's fmix32. */
function hashBytes(bytes: Uint8Array): [number, number] {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ bytes.byteLength
  for (const byte of bytes) {
    a = Math.imul(a ^ byte, 0x01000193)
    b = Math.imul(b ^ byte, 0x5bd1e995)
  }
  return [fmix32(a), fmix32(b)]
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
