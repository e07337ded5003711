/**
 * Our data path (Noise transport messages, multistream-select for the muxer, yamux) against the libp2p components
 * themselves — @chainsafe/libp2p-noise, @libp2p/multistream-select, @chainsafe/libp2p-yamux — on real TCP sockets,
 * in both roles, without early muxer negotiation so every piece of our wire code meets its library counterpart.
 * (interop-libp2p.test.ts covers whole js-libp2p nodes, which negotiate the muxer inside Noise.)
 */
import { once } from 'node:events'
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Stream as Libp2pStream, Upgrader as Libp2pUpgrader, MessageStream, StreamMuxer } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { handle as mssHandle, select as mssSelect } from '@libp2p/multistream-select'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, generateKey, type Network, nodeStreamToRaw, peerIdFromKey, tcp } from '../src/index.js'
import { drain, pseudoRandomChunks, sha256Tap } from '../src/testing/index.js'
import { rawToMessageStream } from './fixtures/libp2p-raw.js'

const MIB = 1024 * 1024
const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A libp2p-components peer on one socket: mss /noise, Noise (no early muxer), mss /yamux/1.0.0, library yamux. */
async function libraryPeer(socket: net.Socket, direction: 'inbound' | 'outbound'): Promise<StreamMuxer> {
  const addr = multiaddr(`/ip4/127.0.0.1/tcp/${socket.remotePort ?? 0}`)
  const raw: MessageStream = rawToMessageStream(nodeStreamToRaw(socket, addr), direction)
  const privateKey = await generateKey()
  const encrypter = noise()({
    peerId: peerIdFromKey(privateKey),
    privateKey,
    logger: defaultLogger(),
    upgrader: { getStreamMuxers: () => new Map() } as unknown as Libp2pUpgrader,
  })
  if (direction === 'outbound') await mssSelect(raw, '/noise')
  else await mssHandle(raw, '/noise')
  const secured =
    direction === 'outbound'
      ? await encrypter.secureOutbound(raw, { skipStreamMuxerNegotiation: true })
      : await encrypter.secureInbound(raw, { skipStreamMuxerNegotiation: true })
  if (direction === 'outbound') await mssSelect(secured.connection, '/yamux/1.0.0')
  else await mssHandle(secured.connection, '/yamux/1.0.0')
  return yamux()().createStreamMuxer(secured.connection)
}

/** Echo on a library stream, the idiomatic 3.x way. */
async function libraryEcho(s: Libp2pStream): Promise<void> {
  for await (const chunk of s)
    if (!s.send(chunk)) await new Promise(r => s.addEventListener('drain', r, { once: true }))
  await s.close()
}

async function ourNetwork(): Promise<Network> {
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  cleanup.push(() => n.close())
  return n
}

describe('our data path against the libp2p components', () => {
  it('we dial a library listener; streams opened both ways move 4 MiB byte-exact', async () => {
    const muxers: Promise<StreamMuxer>[] = []
    const server = net.createServer(s => muxers.push(libraryPeer(s, 'inbound')))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanup.push(() => new Promise<void>(r => server.close(() => r())))
    const port = (server.address() as net.AddressInfo).port

    const ours = await ourNetwork()
    const fromLibrary: Promise<{ bytes: number; sha256: string }>[] = []
    ours.handle(stream => {
      fromLibrary.push(
        drain(stream).then(async got => {
          await stream.sink([new TextEncoder().encode(got.sha256)])
          return got
        }),
      )
    })
    const conn = await ours.dial(`tcp://127.0.0.1:${port}`)
    expect(conn.multiplexer).toBe('/yamux/1.0.0')
    const muxer = await muxers[0]!
    cleanup.push(() => muxer.abort(new Error('test over')))
    muxer.addEventListener('stream', evt => void libraryEcho(evt.detail))

    // our stream → library echo
    const stream = await conn.newStream()
    const sent = sha256Tap(pseudoRandomChunks(4 * MIB, 65536, 3))
    const [, echoed] = await Promise.all([stream.sink(sent.source), drain(stream)])
    expect(echoed.bytes).toBe(4 * MIB)
    expect(echoed.sha256).toBe(sent.digest())

    // library stream → us
    const theirs = await muxer.createStream()
    const data = [...pseudoRandomChunks(4 * MIB, 50_000, 9)]
    for (const c of data)
      if (!theirs.send(c)) await new Promise(r => theirs.addEventListener('drain', r, { once: true }))
    await theirs.close()
    let reply = ''
    for await (const c of theirs) reply += new TextDecoder().decode(c instanceof Uint8Array ? c : c.subarray())
    const got = await fromLibrary[0]!
    expect(got.bytes).toBe(4 * MIB)
    expect(reply).toBe(got.sha256)
  })

  it('a library dialer reaches our listener; streams opened both ways move 4 MiB byte-exact', async () => {
    const ours = await ourNetwork()
    ours.handle(stream => {
      stream.sink(stream.source).catch(() => {})
    })
    const [addr] = await ours.listen('tcp://127.0.0.1:0')
    const port = Number(addr!.toString().split('/')[4])
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const muxer = await libraryPeer(socket, 'outbound')
    cleanup.push(() => muxer.abort(new Error('test over')))
    muxer.addEventListener('stream', evt => void libraryEcho(evt.detail))

    // library stream → our echo
    const theirs = await muxer.createStream()
    const sent = sha256Tap(pseudoRandomChunks(4 * MIB, 65536, 5))
    const reading = (async () => {
      let bytes = 0
      const chunks: Uint8Array[] = []
      for await (const c of theirs) {
        const b = c instanceof Uint8Array ? c : c.subarray()
        chunks.push(b)
        bytes += b.byteLength
      }
      return {
        bytes,
        sha256: (
          await drain({
            source: (async function* () {
              yield* chunks
            })(),
          })
        ).sha256,
      }
    })()
    for await (const c of sent.source)
      if (!theirs.send(c)) await new Promise(r => theirs.addEventListener('drain', r, { once: true }))
    await theirs.close()
    const echoed = await reading
    expect(echoed.bytes).toBe(4 * MIB)
    expect(echoed.sha256).toBe(sent.digest())

    // our stream → library echo
    const [conn] = ours.connections()
    const stream = await conn!.newStream()
    const mine = sha256Tap(pseudoRandomChunks(4 * MIB, 65536, 6))
    const [, back] = await Promise.all([stream.sink(mine.source), drain(stream)])
    expect(back.bytes).toBe(4 * MIB)
    expect(back.sha256).toBe(mine.digest())
  })
})
