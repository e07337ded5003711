import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  InvalidAddressError,
  KeyFileError,
  loadKey,
  loadOrCreateKey,
  parsePeerId,
  peerIdFromKey,
} from '../src/index.js'

const dir = () => mkdtemp(join(tmpdir(), 'pnet-key-'))

describe('identity', () => {
  it('creates an Ed25519 key file with mode 0600 and reloads the same peer ID', async () => {
    const path = join(await dir(), 'nested', 'node.key')
    const key = await loadOrCreateKey(path)
    expect(key.type).toBe('Ed25519')
    const id = peerIdFromKey(key).toString()
    expect(id).toMatch(/^12D3KooW/)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(peerIdFromKey(await loadOrCreateKey(path)).toString()).toBe(id)
    expect(peerIdFromKey(await loadKey(path)).toString()).toBe(id)
  })

  it('two processes racing to create the same key end with one key', async () => {
    const path = join(await dir(), 'node.key')
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKey(path)))
    const ids = new Set(keys.map(k => peerIdFromKey(k).toString()))
    expect(ids.size).toBe(1)
  })

  it('refuses a key file others can read, naming the file and the fix', async () => {
    const path = join(await dir(), 'open.key')
    await loadOrCreateKey(path)
    await chmod(path, 0o644)
    await expect(loadKey(path)).rejects.toThrow(KeyFileError)
    await expect(loadKey(path)).rejects.toThrow(
      `permissions 0644 are too open (others can read the key); run chmod 600 ${path}`,
    )
  })

  it('refuses garbage and missing files with clear errors', async () => {
    const d = await dir()
    const garbage = join(d, 'garbage.key')
    await writeFile(garbage, 'not a key', { mode: 0o600 })
    await expect(loadKey(garbage)).rejects.toThrow(/garbage\.key: not a libp2p private key/)
    await expect(loadKey(join(d, 'missing.key'))).rejects.toThrow(/missing\.key: cannot read/)
    expect((await readFile(garbage, 'utf8')).length).toBe(9) // left untouched
  })

  it('parses peer IDs and names a bad one', () => {
    const id = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    expect(parsePeerId(id).toString()).toBe(id)
    expect(() => parsePeerId('12D3KooWnope')).toThrow(InvalidAddressError)
    expect(() => parsePeerId('12D3KooWnope')).toThrow(/"12D3KooWnope": not a peer ID/)
  })
})
