/**
 * The crypto given to @chainsafe/libp2p-noise (its `crypto` option): the library's own Node implementation, with
 * ChaCha20-Poly1305 made cheaper for bulk data.
 *
 * Profiling the tcp path showed ~17% of CPU in `createCipheriv` rebuilding a KeyObject from the raw 32-byte key for
 * every 64 KiB frame, and ~4% in `Buffer.concat` joining ciphertext and tag. A Noise CipherState keeps the same key
 * buffer for its whole life, so the KeyObject is cached per key buffer (WeakMap: it goes when the CipherState goes),
 * and ciphertext and tag are returned as a list instead of being copied together. Likewise for X25519: the library
 * rebuilds both KeyObjects from DER for every Diffie-Hellman (three per handshake), which made up a third of a
 * handshake's CPU when a peer cut off for strikes kept reconnecting; private KeyObjects are now kept per key buffer
 * (the ephemeral key's from its generation, the static key's for the network's life). Same algorithm, same bytes on
 * the wire: the interop tests against js-libp2p run over this.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

const TAG = 16
/** Below this the library's WebAssembly implementation is faster than node:crypto (its own measurement). */
const SMALL = 1200

/** noise is typed against uint8arraylist 2.x, we use 3.x; both recognise each other's lists at run time. */
type Bytes = ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>

const keyObjects = new WeakMap<Uint8Array, KeyObject>()

function keyObject(k: Uint8Array): KeyObject {
  let key = keyObjects.get(k)
  if (key === undefined) {
    key = createSecretKey(k)
    keyObjects.set(k, key)
  }
  return key
}

/** DER prefixes around raw X25519 keys (RFC 8410): PKCS#8 for private keys, SPKI for public ones. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex')

const privateKeyObjects = new WeakMap<Uint8Array, KeyObject>()

function privateKeyObject(raw: Uint8Array): KeyObject {
  let key = privateKeyObjects.get(raw)
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' })
    privateKeyObjects.set(raw, key)
  }
  return key
}

const NO_INFO = new Uint8Array(0)

export const fastNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  // Noise's HKDF(ck, ikm) with three outputs is RFC 5869 HKDF-SHA256 with salt = ck and empty info: node:crypto's
  // instead of the library's JavaScript HMACs, which allocated ~6 KiB per call (four or five per handshake)
  getHKDF(ck, ikm) {
    const out = new Uint8Array(hkdfSync('sha256', ikm, ck, NO_INFO, 96))
    return [out.subarray(0, 32), out.subarray(32, 64), out.subarray(64, 96)]
  },
  generateX25519KeyPair() {
    const { publicKey, privateKey } = generateKeyPairSync('x25519')
    const raw = {
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.byteLength),
      privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519.byteLength),
    }
    privateKeyObjects.set(raw.privateKey, privateKey)
    return raw
  },
  generateX25519SharedKey(privateKey, publicKey) {
    const priv =
      privateKey instanceof Uint8Array ? privateKeyObject(privateKey) : privateKeyObject(privateKey.subarray())
    const pub = createPublicKey({
      key: Buffer.concat([SPKI_X25519, publicKey instanceof Uint8Array ? publicKey : publicKey.subarray()]),
      format: 'der',
      type: 'spki',
    })
    return diffieHellman({ privateKey: priv, publicKey: pub })
  },
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    if (plaintext.byteLength < SMALL) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = createCipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const out = new Uint8ArrayList()
    if (plaintext instanceof Uint8Array) out.append(cipher.update(plaintext))
    else for (const buf of plaintext) out.append(cipher.update(buf))
    const final = cipher.final()
    if (final.byteLength > 0) out.append(final)
    out.append(cipher.getAuthTag())
    return out as unknown as Bytes
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < SMALL) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const length = ciphertext.byteLength - TAG
    const decipher = createDecipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG })
    decipher.setAAD(ad, { plaintextLength: length })
    decipher.setAuthTag(ciphertext.subarray(length))
    const body = ciphertext instanceof Uint8Array ? ciphertext.subarray(0, length) : ciphertext.sublist(0, length)
    if (body instanceof Uint8Array) {
      const plain = decipher.update(body)
      const final = decipher.final() // throws when the tag does not verify
      return (final.byteLength === 0 ? plain : new Uint8ArrayList(plain, final)) as unknown as Bytes
    }
    const plain = new Uint8ArrayList()
    for (const buf of body) plain.append(decipher.update(buf))
    const final = decipher.final()
    if (final.byteLength > 0) plain.append(final)
    return plain as unknown as Bytes
  },
}
