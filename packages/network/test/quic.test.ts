import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createNetwork,
  generateKey,
  IdleTimeoutError,
  isQuicAvailable,
  type Limits,
  type Network,
  quic,
  type Stream,
} from '../src/index.js'
import { drain, pseudoRandomChunks, readAll, sha256Tap, waitFor } from '../src/testing/index.js'

const run = promisify(execFile)
const enc = new TextEncoder()
const dec = new TextDecoder()

describe('quic transport', () => {
  const networks: Network[] = []
  afterEach(async () => {
    await Promise.all(networks.splice(0).map(n => n.close()))
  })

  async function node(limits?: Partial<Limits>): Promise<Network> {
    const n = createNetwork({ privateKey: await generateKey(), transports: [quic()], limits })
    networks.push(n)
    return n
  }

  it('is available here (the optional package is installed)', async () => {
    expect(await isQuicAvailable()).toBe(true)
  })

  it('connects over QUIC v1 with TLS and native streams; quic:// and /dns4/ work', async () => {
    const server = await node()
    server.handle(stream => {
      stream.sink(stream.source).catch(() => {})
    })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    expect(addr?.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/udp\/\d+\/quic-v1\/p2p\/12D3Koo/)
    const port = addr?.getComponents().find(c => c.name === 'udp')?.value
    const client = await node()
    const conn = await client.dial(`/dns4/localhost/udp/${port}/quic-v1/p2p/${server.peerId.toString()}`)
    expect(conn.transport).toBe('quic')
    expect(conn.encryption).toBe('tls')
    expect(conn.multiplexer).toBe('quic')
    expect(conn.remoteAddr.toString()).toBe(`/ip4/127.0.0.1/udp/${port}/quic-v1`)
    const stream = await conn.newStream()
    const [, back] = await Promise.all([stream.sink([enc.encode('over quic')]), readAll(stream)])
    expect(dec.decode(back)).toBe('over quic')
    // UDP bytes on the wire: TLS handshake, QUIC framing and the 9 bytes each way
    expect(conn.stats.bytesOut).toBeGreaterThan(1000)
    expect(conn.stats.bytesIn).toBeGreaterThan(1000)
  })

  it('applies limits.maxInboundStreams through QUIC stream credit: the next stream waits for a free slot', async () => {
    const server = await node({ maxInboundStreams: 2 })
    const held: Stream[] = []
    server.handle(stream => {
      held.push(stream)
    })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    const client = await node()
    const conn = await client.dial(addr!)
    const opened = [await conn.newStream(), await conn.newStream()]
    for (const s of opened) void s.sink([enc.encode('x')]).catch(() => {})
    await waitFor(() => held.length === 2, 'two inbound streams')
    let third: Stream | undefined
    const opening = conn.newStream().then(s => {
      third = s
      void s.sink([enc.encode('y')]).catch(() => {})
    })
    await new Promise(r => setTimeout(r, 300))
    expect(third).toBeUndefined() // no credit for a third stream while two are open
    expect(held).toHaveLength(2)
    await held[0]!.close() // our write side ends; the remote's already did: the stream is done, credit returns
    await opening
    await waitFor(() => held.length === 3, 'the third stream once a slot freed')
    expect(conn.status).toBe('open')
  })

  it('applies limits.maxConnections: a connection past it is closed right after the QUIC handshake', async () => {
    const server = await node({ maxConnections: 1 })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    const first = await node()
    await first.dial(addr!)
    await waitFor(() => server.connections().length === 1, 'first connection')
    const second = await node()
    // QUIC completes its handshake natively before our gate sees the connection: the dial may succeed, then the
    // connection is closed by the server at once
    const outcome = await second.dial(addr!).then(
      async conn => {
        await conn.closed
        return 'closed by the server'
      },
      (err: Error) => err.name,
    )
    expect(['closed by the server', 'DialError', 'ConnectionClosedError']).toContain(outcome)
    expect(second.connections()).toHaveLength(0)
    expect(server.connections()).toHaveLength(1)
  })

  it('closes a connection that stays idle past limits.idleTimeoutMs', async () => {
    const server = await node({ idleTimeoutMs: 300 })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    const client = await node()
    const conn = await client.dial(addr!)
    await waitFor(() => server.connections().length === 1, 'inbound connection')
    const serverConn = server.connections()[0]!
    expect(await serverConn.closed).toBeInstanceOf(IdleTimeoutError)
    await conn.closed // the client sees the QUIC close
    expect(conn.status).toBe('closed')
  })

  it('a graceful close delivers what was written before it (4 MiB, sha256), then closes', async () => {
    const server = await node()
    server.handle(stream => {
      void (async () => {
        const got = await drain(stream)
        await stream.sink([enc.encode(`${got.bytes} ${got.sha256}`)])
      })()
    })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    const client = await node()
    const conn = await client.dial(addr!)
    const stream = await conn.newStream()
    const sent = sha256Tap(pseudoRandomChunks(4 * 2 ** 20, 65536, 3))
    await stream.sink(sent.source)
    const closing = conn.close() // the reply is still on its way
    const [bytes, digest] = dec.decode(await readAll(stream)).split(' ')
    await closing
    expect(Number(bytes)).toBe(4 * 2 ** 20)
    expect(digest).toBe(sent.digest())
    expect(conn.status).toBe('closed')
    await waitFor(() => server.connections().length === 0, 'the server to see the close')
  })

  it('a graceful close right after the last write still delivers it when the remote had already finished', async () => {
    // the server ends its side at once, so on the client the stream is done as soon as its own FIN is queued: only
    // waiting for the connection to go quiet keeps QUIC's close from discarding the unacknowledged tail
    const server = await node()
    const received: Promise<{ bytes: number; sha256: string }>[] = []
    server.handle(stream => {
      void stream.closeWrite()
      received.push(drain(stream))
    })
    const [addr] = await server.listen('quic://127.0.0.1:0')
    const client = await node()
    const conn = await client.dial(addr!)
    const stream = await conn.newStream()
    const sent = sha256Tap(pseudoRandomChunks(8 * 2 ** 20, 65536, 9))
    await Promise.all([stream.sink(sent.source), readAll(stream)])
    await conn.close()
    await waitFor(() => received.length === 1, 'the server stream')
    expect(await received[0]).toEqual({ bytes: 8 * 2 ** 20, sha256: sent.digest() })
  })
})

describe('quic without its optional native package', () => {
  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))
  const hide = fileURLToPath(new URL('./fixtures/hide-module.mjs', import.meta.url))
  const probe = fileURLToPath(new URL('./fixtures/quic-probe.mjs', import.meta.url))

  /** Runs the probe in a child whose module resolution cannot find `hidden`. */
  async function probeWithout(hidden: string): Promise<Record<string, string>> {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build the package first (pnpm exec tsc -b)`)
    const { stdout } = await run(process.execPath, ['--import', hide, probe, dist], {
      env: { ...process.env, HIDE_MODULE: hidden },
    })
    return JSON.parse(stdout) as Record<string, string>
  }

  it('package missing: @pnet/network still works (tcp), asking for quic throws TransportUnavailableError', async () => {
    const out = await probeWithout('@chainsafe/libp2p-quic')
    expect(out.tcpEcho).toBe('ok')
    expect(out.createError).toBe('TransportUnavailableError ERR_TRANSPORT_UNAVAILABLE')
    expect(out.createMessage).toContain('the optional package @chainsafe/libp2p-quic is not installed')
    expect(out.createMessage).toMatch(/npm install @chainsafe\/libp2p-quic@\d+\.\d+\.\d+/)
    expect(out.installed).toBe('false')
    expect(out.available).toBe('false')
  })

  it('native binary missing: listen and dial fail with TransportUnavailableError naming the platform', async () => {
    const out = await probeWithout(`@chainsafe/libp2p-quic-${process.platform}-${process.arch}-gnu`)
    expect(out.tcpEcho).toBe('ok')
    expect(out.createError).toBe('none') // the package is there; its binary loads lazily
    expect(out.listenError).toBe('TransportUnavailableError ERR_TRANSPORT_UNAVAILABLE')
    expect(out.listenMessage).toContain(`did not load on ${process.platform}-${process.arch}`)
    expect(out.listenMessage).toContain('npm install @chainsafe/libp2p-quic@')
    expect(out.dialError).toBe('TransportUnavailableError ERR_TRANSPORT_UNAVAILABLE')
    expect(out.installed).toBe('true') // installed is cheap to ask: it does not load the binary
    expect(out.available).toBe('false')
  })

  it('the native module loads on the first QUIC listen, not when the network is created', async () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build the package first (pnpm exec tsc -b)`)
    const script = `
      const net = await import(${JSON.stringify(dist)})
      const fs = await import('node:fs')
      const loaded = () => fs.readFileSync('/proc/self/maps', 'utf8').includes('libp2p-quic')
      const n = net.createNetwork({ privateKey: await net.generateKey(), transports: [net.tcp(), net.quic()] })
      await n.listen('tcp://127.0.0.1:0')
      const before = loaded()
      await n.listen('quic://127.0.0.1:0')
      process.stdout.write(JSON.stringify({ before, after: loaded() }))
      await n.close()`
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: process.env })
    expect(JSON.parse(stdout)).toEqual({ before: false, after: true })
  })
})
