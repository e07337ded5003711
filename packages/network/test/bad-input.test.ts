import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import type { Upgrader as Libp2pUpgrader, MessageStream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { select as mssSelect } from '@libp2p/multistream-select'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Connection,
  createNetwork,
  generateKey,
  MAX_YAMUX_FRAME_BYTES,
  type Network,
  nodeStreamToRaw,
  ProtocolViolationError,
  peerIdFromKey,
  tcp,
} from '../src/index.js'
import { readAll, recordingLogger, waitFor } from '../src/testing/index.js'
import { rawToMessageStream } from './fixtures/libp2p-raw.js'

const enc = new TextEncoder()
const networks: Network[] = []
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(networks.splice(0).map(n => n.close()))
})

async function setup() {
  const log = recordingLogger()
  const server = createNetwork({
    privateKey: await generateKey(),
    transports: [tcp()],
    limits: { handshakeTimeoutMs: 1_000 },
    logger: log,
  })
  networks.push(server)
  server.handle(stream => {
    stream.sink(stream.source).catch(() => {})
  })
  const disconnects: (Error | undefined)[] = []
  server.on('disconnect', (_c, err) => disconnects.push(err))
  const [addr] = await server.listen('tcp://127.0.0.1:0')
  const port = Number(addr!.toString().split('/')[4])
  const other = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  networks.push(other)
  const bystander = await other.dial(addr!)
  return { server, port, log, disconnects, bystander }
}

async function stillWorks(conn: Connection): Promise<void> {
  const s = await conn.newStream()
  await s.sink([enc.encode('still fine')])
  expect(new TextDecoder().decode(await readAll(s))).toBe('still fine')
}

function connect(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {})
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  return new Promise(resolve => socket.once('connect', () => resolve({ socket, closed })))
}

/** Completes multistream-select + Noise + yamux selection as a well-behaved libp2p peer would, with our own key. */
async function handshake(port: number): Promise<{ channel: MessageStream; socket: net.Socket; closed: Promise<void> }> {
  const { socket, closed } = await connect(port)
  const raw = rawToMessageStream(nodeStreamToRaw(socket, multiaddr(`/ip4/127.0.0.1/tcp/${port}`)), 'outbound')
  await mssSelect(raw, '/noise')
  const privateKey = await generateKey()
  const encrypter = noise()({
    peerId: peerIdFromKey(privateKey),
    privateKey,
    logger: defaultLogger(),
    upgrader: { getStreamMuxers: () => new Map() } as unknown as Libp2pUpgrader,
  })
  const secured = await encrypter.secureOutbound(raw, { skipStreamMuxerNegotiation: true })
  await mssSelect(secured.connection, '/yamux/1.0.0')
  return { channel: secured.connection, socket, closed }
}

function yamuxHeader(version: number, type: number, flags: number, streamId: number, length: number): Uint8Array {
  const h = new Uint8Array(12)
  const v = new DataView(h.buffer)
  h[0] = version
  h[1] = type
  v.setUint16(2, flags)
  v.setUint32(4, streamId)
  v.setUint32(8, length)
  return h
}

describe('bad input', () => {
  it('random bytes instead of a handshake: cut off with a logged reason, others unaffected', async () => {
    const { port, log, bystander } = await setup()
    const { socket, closed } = await connect(port)
    socket.write(randomBytes(64 * 1024))
    await closed
    await waitFor(() => log.records.some(r => r.msg === 'inbound connection failed'), 'failure logged')
    const record = log.records.find(r => r.msg === 'inbound connection failed')
    expect(String(record?.fields.reason)).toMatch(/handshake with \/ip4\/127\.0\.0\.1\/tcp\/\d+ failed/)
    await stillWorks(bystander)
  })

  it('a half-done Noise handshake: dropped when the handshake deadline passes', async () => {
    const { port, log, bystander } = await setup()
    const { socket, closed } = await connect(port)
    // valid multistream-select for /noise, then the first 10 bytes of a Noise message that promised 32
    socket.write(Buffer.from('\x13/multistream/1.0.0\n\x07/noise\n', 'latin1'))
    socket.write(Buffer.from([0, 32, ...randomBytes(8)]))
    const started = Date.now()
    await closed
    expect(Date.now() - started).toBeLessThan(5_000)
    await waitFor(
      () => log.records.some(r => String(r.fields.reason).includes('timed out after 1000 ms')),
      'timeout logged',
    )
    await stillWorks(bystander)
  })

  it('a yamux frame announcing more than the limit: cut off before anything is buffered', async () => {
    const { log, port, disconnects, bystander } = await setup()
    const { channel, closed } = await handshake(port)
    channel.send(yamuxHeader(0, 0, 1, 1, MAX_YAMUX_FRAME_BYTES + 1)) // DATA, SYN, stream 1, 4 MiB + 1
    await closed
    await waitFor(() => disconnects.length === 1, 'server to drop the connection')
    expect(disconnects[0]).toBeInstanceOf(ProtocolViolationError)
    expect(disconnects[0]?.message).toContain(`exceeds the ${MAX_YAMUX_FRAME_BYTES}-byte limit`)
    expect(log.records.length).toBeGreaterThan(0)
    await stillWorks(bystander)
  })

  it('a malformed yamux header (bad version): cut off', async () => {
    const { port, disconnects, bystander } = await setup()
    const { channel, closed } = await handshake(port)
    channel.send(yamuxHeader(7, 1, 1, 1, 0))
    await closed
    await waitFor(() => disconnects.length === 1, 'server to drop the connection')
    expect(disconnects[0]?.message).toContain('bad yamux header (version 7')
    await stillWorks(bystander)
  })

  it('garbage inside the encrypted channel: authentication fails, connection dropped', async () => {
    const { port, disconnects, bystander } = await setup()
    const { socket, closed } = await handshake(port)
    await waitFor(() => disconnects.length === 0 && socket.writable, 'handshake settled')
    // a Noise transport frame of 100 random bytes: its Poly1305 tag cannot verify
    socket.write(Buffer.concat([Buffer.from([0, 100]), randomBytes(100)]))
    await closed
    await waitFor(() => disconnects.length === 1, 'server to drop the connection')
    expect(disconnects[0]).toBeInstanceOf(Error)
    await stillWorks(bystander)
  })
})
