/**
 * Ed25519 through node:crypto (OpenSSL): signing and verifying report batches and jobs costs a fraction of the pure
 * JavaScript path in @libp2p/crypto, which matters when a controller checks hundreds of agents' reports at once.
 * Signatures are plain RFC 8032 Ed25519, interchangeable with @libp2p/crypto's.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

const privateKeys = new WeakMap<PrivateKey, KeyObject>()
const publicKeys = new Map<string, KeyObject>()
/** Public keys kept parsed; a fleet's worth, then the oldest go. */
const PUBLIC_KEY_CACHE = 65_536

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url')

/**
 * Signs `data` with an Ed25519 libp2p private key.
 *
 * @example
 * ```ts
 * const sig = signEd25519(agentKey, bytes)
 * ```
 */
export function signEd25519(key: PrivateKey, data: Uint8Array): Uint8Array {
  if (key.type !== 'Ed25519') throw new TypeError(`reports and jobs are signed with Ed25519 keys, not ${key.type}`)
  let obj = privateKeys.get(key)
  if (obj === undefined) {
    obj = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64(key.raw.subarray(0, 32)), x: b64(key.publicKey.raw) },
      format: 'jwk',
    })
    privateKeys.set(key, obj)
  }
  return sign(null, data, obj)
}

/**
 * Checks an Ed25519 signature by a libp2p public key; false for a bad signature or a non-Ed25519 key.
 *
 * @example
 * ```ts
 * if (!verifyEd25519(peerId.publicKey, bytes, sig)) throw new Error('forged')
 * ```
 */
export function verifyEd25519(key: PublicKey, data: Uint8Array, sig: Uint8Array): boolean {
  if (key.type !== 'Ed25519' || sig.byteLength !== 64) return false
  const id = b64(key.raw)
  let obj = publicKeys.get(id)
  if (obj === undefined) {
    obj = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: id }, format: 'jwk' })
    if (publicKeys.size >= PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value as string)
    publicKeys.set(id, obj)
  }
  return verify(null, data, obj, sig)
}
