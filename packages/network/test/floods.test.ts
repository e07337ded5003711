/**
 * What keeps a flood cheap for the node under it: errors the remote causes carry no stack, a muted connection costs
 * nothing more, a socket that closes before speaking builds no handshake, and the handshake's crypto shortcuts give
 * the library's bytes exactly.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { noiseStaticKey, signingOnce } from '../src/handshake.js'
import {
  type Connection,
  createNetwork,
  generateKey,
  type Network,
  StreamResetError,
  tcp,
  withoutStack,
} from '../src/index.js'
import { fastNoiseCrypto } from '../src/noise-crypto.js'
import { delay, readAll, recordingLogger, waitFor } from '../src/testing/index.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const networks: Network[] = []

afterEach(async () => {
  await Promise.all(networks.splice(0).map(n => n.close()))
})

async function echoServer() {
  const log = recordingLogger()
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()], logger: log })
  networks.push(n)
  let handled = 0
  n.handle(stream => {
    handled++
    stream.sink(stream.source).catch(() => {})
  })
  const [addr] = await n.listen('tcp://127.0.0.1:0')
  return { n, log, addr: addr!.toString(), port: Number(addr!.toString().split('/')[4]), handled: () => handled }
}

async function client(): Promise<Network> {
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  networks.push(n)
  return n
}

async function echoes(conn: Connection, text = 'ping'): Promise<boolean> {
  const s = await conn.newStream()
  await s.sink([enc.encode(text)])
  return dec.decode(await readAll(s)) === text
}

describe('floods', () => {
  it('withoutStack: errors the remote causes (a reset stream) carry their message and code, no stack', async () => {
    const s = await echoServer()
    let seen: Error | undefined
    s.n.handle(stream => {
      readAll(stream).catch(err => {
        seen = err as Error
      })
    })
    const conn = await (await client()).dial(s.addr)
    const st = await conn.newStream()
    await st
      .sink(
        (async function* () {
          yield enc.encode('x')
          st.abort(new Error('gone'))
        })(),
      )
      .catch(() => {})
    await waitFor(() => seen !== undefined, 'the server to see the reset')
    expect(seen).toBeInstanceOf(StreamResetError)
    expect(seen?.stack).toBe(`StreamResetError: ${seen?.message}`)
    const built = withoutStack(() => new RangeError('bad'))
    expect(built.stack).toBe('RangeError: bad')
    expect(new RangeError('with').stack).toContain('\n    at ') // the limit is restored
  })

  it('mute: nothing more from the remote is processed, its connection stays until aborted; others are served', async () => {
    const s = await echoServer()
    const c = await client()
    const conn = await c.dial(s.addr)
    const calm = await (await client()).dial(s.addr)
    expect(await echoes(conn)).toBe(true)
    await waitFor(() => s.n.connections(c.peerId).length === 1, 'the server side')
    const remote = s.n.connections(c.peerId)[0]!
    const before = s.handled()
    remote.mute(new Error('tarpit'))
    const st = await conn.newStream()
    void st.sink([enc.encode('anyone?')]).catch(() => {})
    const reply = readAll(st).then(
      b => dec.decode(b),
      () => 'reset',
    )
    const quiet = await Promise.race([reply, delay(400).then(() => 'quiet')])
    expect(quiet).toBe('quiet')
    expect(s.handled()).toBe(before) // the new stream never reached the handler
    expect(remote.status).toBe('open')
    expect(conn.status).toBe('open') // the remote sees nothing: a tarpit, not a cut
    expect(await echoes(calm)).toBe(true)
    remote.abort(new Error('held long enough'))
    await conn.closed
    expect(await reply).toBe('reset')
  })

  it('a socket that closes before saying a word builds no handshake and frees its slot at once', async () => {
    const s = await echoServer()
    const n = 50
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>(resolve => {
            const socket = net.connect(s.port, '127.0.0.1', () => socket.end())
            socket.on('error', () => resolve())
            socket.on('close', () => resolve())
          }),
      ),
    )
    await waitFor(
      () => s.log.records.some(r => JSON.stringify(r).includes('closed before the handshake began')),
      'the failure logged',
    )
    // none of them holds a pending-handshake slot: a real peer gets in at once
    expect(await echoes(await (await client()).dial(s.addr))).toBe(true)
    const lines = s.log.records.filter(r => r.msg === 'inbound connection failed')
    expect(lines.length).toBeLessThan(n) // logged once per interval, not once per socket
  })
})

describe('handshake crypto shortcuts give the library bytes', () => {
  it('HKDF: node:crypto gives what the library computes, with and without input key material', () => {
    for (const ikm of [new Uint8Array(0), randomBytes(32)]) {
      const ck = randomBytes(32)
      const ours = fastNoiseCrypto.getHKDF(ck, ikm).map(b => Buffer.from(b).toString('hex'))
      const theirs = defaultCrypto.getHKDF(ck, ikm).map(b => Buffer.from(b).toString('hex'))
      expect(ours).toEqual(theirs)
    }
  })

  it('X25519: key pairs and shared secrets match the library, the static key is made once', () => {
    const a = fastNoiseCrypto.generateX25519KeyPair()
    const b = defaultCrypto.generateX25519KeyPair()
    const ab = Buffer.from(fastNoiseCrypto.generateX25519SharedKey(a.privateKey, b.publicKey))
    const ba = Buffer.from(defaultCrypto.generateX25519SharedKey(b.privateKey, a.publicKey))
    expect(ab.equals(ba)).toBe(true)
    expect(Buffer.from(fastNoiseCrypto.generateX25519SharedKey(a.privateKey, b.publicKey)).equals(ab)).toBe(true)
    const derived = defaultCrypto.generateX25519KeyPairFromSeed(a.privateKey)
    expect(Buffer.from(derived.publicKey).equals(Buffer.from(a.publicKey))).toBe(true)
    const stat = noiseStaticKey()
    expect(stat.seed).toBe(stat.pair.privateKey)
  })

  it('signingOnce: the same payload is signed once; the signature verifies; other payloads are signed anew', async () => {
    const key = await generateKey()
    let calls = 0
    const counted = new Proxy(key, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target)
        if (prop === 'sign') {
          return (data: Uint8Array) => {
            calls++
            return key.sign(data)
          }
        }
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const signer = signingOnce(counted)
    const payload = enc.encode('noise-libp2p-static-key:0123456789abcdef0123456789abcdef')
    const first = await signer.sign(payload)
    const second = await signer.sign(Uint8Array.from(payload))
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true)
    expect(calls).toBe(1)
    expect(await key.publicKey.verify(payload, first)).toBe(true)
    await signer.sign(enc.encode('something else'))
    expect(calls).toBe(2)
    expect(signer.publicKey.equals(key.publicKey)).toBe(true)
  })
})
