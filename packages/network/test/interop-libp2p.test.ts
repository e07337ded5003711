/**
 * Wire compatibility with a stock js-libp2p 3.x node (tcp + noise + yamux, and quic): each side dials the other,
 * and a stream opened from either end carries 4 MiB both ways byte-exact. Protocols on js-libp2p streams are
 * negotiated with multistream-select, done here by a test-only helper over our Stream.
 */
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { quic as libp2pQuic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, Stream as Libp2pStream } from '@libp2p/interface'
import { tcp as libp2pTcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, generateKey, type Network, quic, type Stream, tcp } from '../src/index.js'
import { pseudoRandomChunks, waitFor } from '../src/testing/index.js'
import { mssHandle, mssSelect } from './interop-mss.js'

const ECHO = '/pnet-interop/echo/1.0.0'
const SIZE = 4 * 2 ** 20

async function libp2pNode(): Promise<Libp2p> {
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/quic-v1'] },
    transports: [libp2pTcp(), libp2pQuic()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // its monitor pings with /ipfs/ping/1.0.0, which the network layer does not answer (the node layer does)
    connectionMonitor: { enabled: false },
  })
}

/** js-libp2p side: echo every byte, then close the write side. */
async function libp2pEcho(stream: Libp2pStream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
}

/** js-libp2p side: send SIZE bytes, read the echo; returns the sha256 of what came back. */
async function libp2pSendAndRead(stream: Libp2pStream): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  const reading = (async () => {
    for await (const chunk of stream) {
      const buf = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      hash.update(buf)
      bytes += buf.byteLength
    }
  })()
  for (const chunk of pseudoRandomChunks(SIZE, 65536, 5)) {
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
  await reading
  return { bytes, sha256: hash.digest('hex') }
}

/** pnet side: the same two roles over our Stream, negotiating with multistream-select. */
function pnetEcho(stream: Stream): void {
  const negotiated = mssHandle(stream, [ECHO])
  negotiated.sink(negotiated.source).catch(() => {})
}

async function pnetSendAndRead(stream: Stream): Promise<{ bytes: number; sha256: string }> {
  const negotiated = mssSelect(stream, ECHO)
  const hash = createHash('sha256')
  let bytes = 0
  const [, agreed] = await Promise.all([
    negotiated.sink(pseudoRandomChunks(SIZE, 65536, 5)),
    negotiated.protocol,
    (async () => {
      for await (const chunk of negotiated.source) {
        hash.update(chunk)
        bytes += chunk.byteLength
      }
    })(),
  ])
  expect(agreed).toBe(ECHO)
  return { bytes, sha256: hash.digest('hex') }
}

const expected = (() => {
  const hash = createHash('sha256')
  for (const chunk of pseudoRandomChunks(SIZE, 65536, 5)) hash.update(chunk)
  return hash.digest('hex')
})()

describe.each([
  { name: 'tcp + noise + yamux', transport: () => tcp(), listen: 'tcp://127.0.0.1:0', proto: 'tcp' },
  { name: 'quic', transport: () => quic(), listen: 'quic://127.0.0.1:0', proto: 'quic-v1' },
])('js-libp2p interop over $name', ({ transport, listen, proto }) => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(f => f()))
  })

  async function pair(): Promise<{ pnet: Network; libp2p: Libp2p }> {
    const pnet = createNetwork({ privateKey: await generateKey(), transports: [transport()] })
    pnet.handle(pnetEcho)
    const libp2p = await libp2pNode()
    await libp2p.handle(ECHO, libp2pEcho)
    cleanup.push(
      () => pnet.close(),
      async () => {
        await libp2p.stop()
      },
    )
    return { pnet, libp2p }
  }

  it('js-libp2p dials a pnet listener; streams opened from either end echo 4 MiB byte-exact', async () => {
    const { pnet, libp2p } = await pair()
    const [addr] = await pnet.listen(listen)
    // js-libp2p opens the stream
    const fromLibp2p = await libp2pSendAndRead(await libp2p.dialProtocol(multiaddr(addr!.toString()), ECHO))
    expect(fromLibp2p).toEqual({ bytes: SIZE, sha256: expected })
    // pnet opens one on the connection js-libp2p made
    await waitFor(() => pnet.connections().length === 1, 'inbound connection from js-libp2p')
    const conn = pnet.connections()[0]!
    expect(conn.direction).toBe('inbound')
    expect(conn.remotePeer.toString()).toBe(libp2p.peerId.toString())
    expect(await pnetSendAndRead(await conn.newStream())).toEqual({ bytes: SIZE, sha256: expected })
  })

  it('a pnet dialer reaches a js-libp2p listener; streams opened from either end echo 4 MiB byte-exact', async () => {
    const { pnet, libp2p } = await pair()
    const target = libp2p.getMultiaddrs().find(a => a.getComponents().some(c => c.name === proto))
    expect(target).toBeDefined()
    const conn = await pnet.dial(target!.toString())
    expect(conn.remotePeer.toString()).toBe(libp2p.peerId.toString())
    // pnet opens the stream
    expect(await pnetSendAndRead(await conn.newStream())).toEqual({ bytes: SIZE, sha256: expected })
    // js-libp2p opens one on the connection pnet made
    const [libp2pConn] = libp2p.getConnections(pnet.peerId)
    expect(libp2pConn).toBeDefined()
    const fromLibp2p = await libp2pSendAndRead(await libp2pConn!.newStream(ECHO))
    expect(fromLibp2p).toEqual({ bytes: SIZE, sha256: expected })
  })
})
