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
/**
 * The same keys by a quick hash of their tail, so a peer ID arriving from the wire is found without building a
 * string: a routing update names thousands of destinations, nearly all of them known already. A hash shared by two
 * keys holds one of them; the other is found through `interned`. The tail is the random part of every peer ID
 * multihash (key or digest bytes; the prefix is a fixed type code), and the bytes are compared in full anyway.
 */
const byHash = new Map<number, WeakRef<PeerKey>>()
const registry = new FinalizationRegistry<{ key: string; quick: number }>(({ key, quick }) => {
  const ref = interned.get(key)
  if (ref !== undefined && ref.deref() === undefined) interned.delete(key)
  const hashed = byHash.get(quick)
  if (hashed !== undefined && hashed.deref() === undefined) byHash.delete(quick)
})

/** The peer key of a PeerId. */
export function peerKeyOf(peerId: PeerId): PeerKey {
  const bytes = peerId.toMultihash().bytes
  const key = latin1(bytes)
  const existing = interned.get(key)?.deref()
  if (existing !== undefined) return existing
  // a plain copy: the multihash's own array is several times slower to compare against (another V8 array shape)
  return remember(key, new Uint8Array(bytes), peerId)
}

/**
 * The peer key of multihash bytes received from the wire; throws a TypeError naming the problem when the bytes are
 * not a peer ID.
 */
export function peerKeyFromBytes(bytes: Uint8Array): PeerKey {
  const hashed = byHash.get(quickHash(bytes))?.deref()
  if (hashed !== undefined && equalBytes(hashed.bytes, bytes)) return hashed
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

/** one class for every key: one object shape where the routing code reads them, no closure per key */
class InternedKey implements PeerKey {
  #text: string | undefined

  constructor(
    readonly key: string,
    readonly bytes: Uint8Array,
    readonly h1: number,
    readonly h2: number,
    readonly peerId: PeerId,
  ) {}

  get text(): string {
    this.#text ??= this.peerId.toString()
    return this.#text
  }
}

function remember(key: string, bytes: Uint8Array, peerId: PeerId): PeerKey {
  const pk = new InternedKey(key, bytes, hash1(bytes), hash2(bytes), peerId)
  const ref = new WeakRef(pk)
  interned.set(key, ref)
  const quick = quickHash(bytes)
  if (byHash.get(quick)?.deref() === undefined) byHash.set(quick, ref)
  registry.register(pk, { key, quick })
  return pk
}

/** Signed 32 bits (a small integer to V8, a cheap map key) from the length and the last 8 bytes. */
function quickHash(bytes: Uint8Array): number {
  const n = bytes.length
  let h = n
  for (let i = Math.max(0, n - 8); i < n; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193)
  return fmix32(h) | 0
}

/** compared from the end: different peer IDs differ in their random tail */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length
  if (n !== b.length) return false
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** FNV-1a over the bytes, finished with murmur3's fmix32. */
function hash1(bytes: Uint8Array): number {
  let a = 0x811c9dc5
  const n = bytes.length
  for (let i = 0; i < n; i++) a = Math.imul(a ^ (bytes[i] as number), 0x01000193)
  return fmix32(a)
}

/** The same with another offset and multiplier: a second, independent 32 bits. */
function hash2(bytes: Uint8Array): number {
  let b = 0x01000193 ^ bytes.byteLength
  const n = bytes.length
  for (let i = 0; i < n; i++) b = Math.imul(b ^ (bytes[i] as number), 0x5bd1e995)
  return fmix32(b)
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
