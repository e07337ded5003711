/**
 * A stock js-libp2p 3.x node (tcp + noise + yamux, with its ping service) and a pnet node with a channel registry:
 * libp2p opens header-less pnet channels (its own ping, a custom echo), and pnet opens the libp2p node's ping.
 */
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import { tcp as libp2pTcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createNetwork, generateKey, type Network, tcp } from '@pnet/network'
import { createLibp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChannelRegistry, createChannelRegistry, NoSuchChannelError, openChannel } from '../src/index.js'

const PING = '/ipfs/ping/1.0.0'
const ECHO = '/pnet-test/echo/1.0.0'

let node: Libp2p<{ ping: Ping }>
let pnet: Network
let registry: ChannelRegistry
let pnetAddr: string

beforeAll(async () => {
  node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [libp2pTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { ping: ping() },
    connectionMonitor: { enabled: false },
  })
  pnet = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  registry = createChannelRegistry({ localPeer: pnet.peerId })
  // libp2p's ping: echo the 32-byte payloads
  registry.handle(PING, async stream => stream.sink(stream.source), { header: false })
  registry.handle(ECHO, async stream => stream.sink(stream.source), { header: false })
  pnet.handle(registry.accept)
  pnetAddr = (await pnet.listen('tcp://127.0.0.1:0'))[0]!.toString()
})

afterAll(async () => {
  await node?.stop()
  await pnet?.close()
})

describe('js-libp2p opens pnet channels', () => {
  it("libp2p's ping service pings a pnet node", async () => {
    const rtt = await node.services.ping.ping(multiaddr(pnetAddr))
    expect(rtt).toBeGreaterThanOrEqual(0)
    expect(registry.stats().channels.find(c => c.channel === PING)?.accepted).toBeGreaterThanOrEqual(1)
  })

  it('dialProtocol to a header-less pnet channel carries data both ways', async () => {
    const stream = await node.dialProtocol(multiaddr(pnetAddr), ECHO)
    const payload = randomBytes(100_000)
    const received: Uint8Array[] = []
    const reading = (async () => {
      for await (const c of stream) received.push(c instanceof Uint8Array ? c : c.subarray())
    })()
    if (!stream.send(payload)) await stream.onDrain()
    await stream.close()
    await reading
    expect(Buffer.concat(received).equals(payload)).toBe(true)
  })

  it('a protocol pnet does not handle is refused the libp2p way', async () => {
    const err = await node.dialProtocol(multiaddr(pnetAddr), '/nope/1.0.0').then(
      () => undefined,
      (e: unknown) => e,
    )
    // the connection itself works (the test above); what fails is multistream-select answering `na` for the protocol
    expect((err as Error | undefined)?.name).toBe('UnsupportedProtocolError')
    expect((err as Error).message).toContain('/nope/1.0.0')
  })
})

describe('pnet opens js-libp2p protocols', () => {
  it('pings the libp2p node over its ping protocol', async () => {
    const addr = node.getMultiaddrs()[0]!.toString()
    const connection = await pnet.dial(addr)
    const ch = await openChannel(await connection.newStream(), PING, { header: false })
    const payload = new Uint8Array(randomBytes(32))
    const reader = ch.stream.source[Symbol.asyncIterator]()
    const writing = ch.stream.sink([payload])
    const chunks: Uint8Array[] = []
    let got = 0
    while (got < 32) {
      const { value, done } = await reader.next()
      if (done === true) break
      chunks.push(value)
      got += value.byteLength
    }
    await writing
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(payload))
    await ch.stream.close()
  })

  it('NO_SUCH_CHANNEL for a protocol the libp2p node lacks', async () => {
    const addr = node.getMultiaddrs()[0]!.toString()
    const connection = pnet.connections().find(c => c.remotePeer.equals(node.peerId)) ?? (await pnet.dial(addr))
    const err = await openChannel(await connection.newStream(), '/nope/1.0.0', { header: false }).catch((e: any) => e)
    expect(err).toBeInstanceOf(NoSuchChannelError)
    expect(err.message).toContain(node.peerId.toString())
  })
})
