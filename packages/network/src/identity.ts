/**
 * Identity: Ed25519 keys and libp2p peer IDs (`12D3Koo…`). Key files hold the libp2p protobuf encoding of the
 * private key (the format go-libp2p and kubo use), created with mode 0600 and refused when others can read them.
 *
 * @example
 * ```ts
 * const key = await loadOrCreateKey('/var/lib/pnet/node.key')
 * console.log(peerIdFromKey(key).toString())   // 12D3KooW…
 * ```
 */
import { constants } from 'node:fs'
import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { InvalidAddressError, KeyFileError, messageOf } from './errors.js'

/** A fresh Ed25519 key. */
export async function generateKey(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}

/** The peer ID of a private key. */
export function peerIdFromKey(key: PrivateKey): PeerId {
  return peerIdFromPrivateKey(key)
}

/**
 * Parses a peer ID string, with an error that names the bad value.
 *
 * @example
 * ```ts
 * const peer = parsePeerId('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
 * ```
 */
export function parsePeerId(value: string): PeerId {
  try {
    return peerIdFromString(value)
  } catch (err) {
    throw new InvalidAddressError(value, `not a peer ID (${messageOf(err)})`)
  }
}

/** Serialises a key in the libp2p protobuf format. */
export function encodeKey(key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key)
}

/** Parses a key in the libp2p protobuf format. */
export function decodeKey(bytes: Uint8Array): PrivateKey {
  return privateKeyFromProtobuf(bytes)
}

/**
 * Reads the key at `path`. Refuses a file that group or others can read, like ssh does.
 *
 * @example
 * ```ts
 * const key = await loadKey('./node.key')
 * ```
 */
export async function loadKey(path: string): Promise<PrivateKey> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    throw new KeyFileError(path, `cannot read (${messageOf(err)})`, { cause: err })
  }
  if (!info.isFile()) throw new KeyFileError(path, 'is not a regular file')
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0')
    throw new KeyFileError(path, `permissions ${mode} are too open (others can read the key); run chmod 600 ${path}`)
  }
  const bytes = await readFile(path)
  try {
    return decodeKey(bytes)
  } catch (err) {
    throw new KeyFileError(path, `not a libp2p private key (${messageOf(err)})`, { cause: err })
  }
}

/**
 * Reads the key at `path`, or creates an Ed25519 key there (mode 0600, parent directories 0700) when the file does
 * not exist. Two processes racing to create the same file end up with the same key.
 *
 * @example
 * ```ts
 * const key = await loadOrCreateKey(join(dataDir, 'node.key'))
 * ```
 */
export async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  try {
    return await loadKey(path)
  } catch (err) {
    if (!(err instanceof KeyFileError) || !(err.cause as NodeJS.ErrnoException | undefined)?.code?.includes('ENOENT')) {
      throw err
    }
  }
  const key = await generateKey()
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    await handle.writeFile(encodeKey(key))
    await handle.sync()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadKey(path)
    throw new KeyFileError(path, `cannot create (${messageOf(err)})`, { cause: err })
  } finally {
    await handle?.close()
  }
  return key
}
