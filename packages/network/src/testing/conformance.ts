/**
 * The Transport/Connection/Stream contract as a vitest suite. Every adapter runs it unchanged: tcp, memory, quic,
 * ws, and your own (see examples/custom-transport).
 *
 * @example
 * ```ts
 * // test/conformance.test.ts of a package with its own transport
 * import { transportConformance } from '@pnet/network/testing'
 * import { unix } from '../src/unix.js'
 * transportConformance({ name: 'unix', transport: () => unix(), listenAddr: () => `/unix/${tmpPath()}` })
 * ```
 */
import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, StreamAbortedError, StreamResetError, UnexpectedPeerError } from '../errors.js'
import { generateKey, parsePeerId } from '../identity.js'
import type { Connection, Limits, Stream, TransportFactory } from '../interface.js'
import { createNetwork, type Network } from '../network.js'
import { drain, pseudoRandomChunks, readAll, sha256Tap, waitFor } from './helpers.js'

export interface ConformanceTarget {
  /** shown in the suite title */
  name: string
  /** a transport factory; called once per network */
  transport: () => TransportFactory
  /** an address to listen on; unique per call where the transport needs it (e.g. `/memory/<random>`) */
  listenAddr: () => string
  /**
   * An address where something accepts connections but never answers, for the abort-during-handshake test
   * (and a function to stop it). Without it that test aborts a dial at once instead.
   */
  silentServer?: () => Promise<{ addr: string; close(): Promise<void> }>
  /** size of the large checksummed transfer, default 256 MiB */
  bigTransferBytes?: number
  /** limits for the networks under test */
  limits?: Partial<Limits>
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/**
 * Declares the conformance suite for one transport.
 *
 * @example
 * ```ts
 * transportConformance({ name: 'tcp', transport: () => tcp(), listenAddr: () => 'tcp://127.0.0.1:0' })
 * ```
 */
export function transportConformance(target: ConformanceTarget): void {
  describe(`transport conformance: ${target.name}`, () => {
    const networks: Network[] = []

    async function pair(opts: { serverLimits?: Partial<Limits> } = {}): Promise<{
      server: Network
      client: Network
      addr: string
      serverConns: Connection[]
    }> {
      const server = createNetwork({
        privateKey: await generateKey(),
        transports: [target.transport()],
        limits: { ...target.limits, ...opts.serverLimits },
      })
      const client = createNetwork({
        privateKey: await generateKey(),
        transports: [target.transport()],
        limits: target.limits,
      })
      networks.push(server, client)
      const serverConns: Connection[] = []
      server.on('connection', c => serverConns.push(c))
      const [addr] = await server.listen(target.listenAddr())
      if (addr === undefined) throw new Error('listen returned no address')
      return { server, client, addr: addr.toString(), serverConns }
    }

    function echo(server: Network): void {
      server.handle(stream => {
        stream.sink(stream.source).catch(() => {})
      })
    }

    afterEach(async () => {
      await Promise.all(networks.splice(0).map(n => n.close().catch(() => {})))
    })

    it('dials and listens; both ends see the authenticated peer', async () => {
      const { server, client, addr, serverConns } = await pair()
      expect(addr).toContain(`/p2p/${server.peerId.toString()}`)
      const conn = await client.dial(addr)
      expect(conn.remotePeer.equals(server.peerId)).toBe(true)
      expect(conn.localPeer.equals(client.peerId)).toBe(true)
      expect(conn.direction).toBe('outbound')
      expect(conn.status).toBe('open')
      expect(conn.transport).toBe(client.transports[0]?.name)
      await waitFor(() => serverConns.length === 1, 'inbound connection')
      const inbound = serverConns[0]!
      expect(inbound.direction).toBe('inbound')
      expect(inbound.remotePeer.equals(client.peerId)).toBe(true)
      expect(server.connections(client.peerId)).toHaveLength(1)
    })

    it('carries bytes both ways on a stream and counts them', async () => {
      const { server, client, addr } = await pair()
      echo(server)
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      const [, back] = await Promise.all([stream.sink([enc.encode('hello '), enc.encode('world')]), readAll(stream)])
      expect(dec.decode(back)).toBe('hello world')
      expect(stream.stats.bytesOut).toBe(11)
      expect(stream.stats.bytesIn).toBe(11)
      await waitFor(() => stream.status === 'closed', 'stream to close')
      expect(conn.stats.bytesOut).toBeGreaterThan(11)
      expect(conn.stats.streamsOutbound).toBe(1)
    })

    it('runs 128 concurrent streams byte-exact', async () => {
      const { server, client, addr } = await pair()
      echo(server)
      const conn = await client.dial(addr)
      const results = await Promise.all(
        Array.from({ length: 128 }, async (_, i) => {
          const stream = await conn.newStream()
          const size = 1024 + ((i * 7919) % 65536)
          const sent = sha256Tap(pseudoRandomChunks(size, 4096, i + 1))
          const [, got] = await Promise.all([stream.sink(sent.source), drain(stream)])
          return { size, bytes: got.bytes, same: got.sha256 === sent.digest() }
        }),
      )
      for (const r of results) {
        expect(r.bytes).toBe(r.size)
        expect(r.same).toBe(true)
      }
    })

    it('half-closes: the client ends its writes and still reads the reply', async () => {
      const { server, client, addr } = await pair()
      server.handle(stream => {
        void (async () => {
          const got = await readAll(stream) // returns only once the client closed its write side
          await stream.sink([enc.encode(`got ${got.byteLength} bytes`)])
        })()
      })
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      await stream.sink([new Uint8Array(1000)])
      expect(stream.writeStatus).toBe('closed')
      expect(dec.decode(await readAll(stream))).toBe('got 1000 bytes')
    })

    it('half-closes: the server ends its writes while the client keeps writing', async () => {
      const { server, client, addr } = await pair()
      const serverGot: Promise<number>[] = []
      server.handle(stream => {
        serverGot.push(
          (async () => {
            await stream.closeWrite() // nothing to say
            return (await readAll(stream)).byteLength
          })(),
        )
      })
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      // The opener speaks first: a QUIC stream (in every libp2p QUIC) reaches the remote with its first byte.
      let remoteEnded!: () => void
      const ended = new Promise<void>(resolve => {
        remoteEnded = resolve
      })
      const writing = stream.sink(
        (async function* () {
          yield new Uint8Array(1000)
          await ended
          yield* pseudoRandomChunks(300_000, 10_000) // writing still works after the remote closed its side
        })(),
      )
      expect((await readAll(stream)).byteLength).toBe(0) // remote write side closed, no data
      expect(stream.readStatus).toBe('closed')
      remoteEnded()
      await writing
      await waitFor(() => serverGot.length === 1, 'server stream')
      expect(await serverGot[0]).toBe(301_000)
    })

    it('aborts and resets: the other end fails, other streams carry on', async () => {
      const { server, client, addr } = await pair()
      const serverStreams: Stream[] = []
      server.handle(stream => {
        serverStreams.push(stream)
      })
      const conn = await client.dial(addr)
      const doomed = await conn.newStream()
      const healthy = await conn.newStream()
      const w1 = doomed.sink(
        (async function* () {
          yield enc.encode('a')
          await new Promise(() => {}) // never ends
        })(),
      )
      void healthy.sink([enc.encode('b')]).catch(() => {})
      await waitFor(() => serverStreams.length === 2, 'two inbound streams')
      const [remoteDoomed, remoteHealthy] = serverStreams as [Stream, Stream]
      const reading = readAll(remoteDoomed).then(
        () => undefined,
        (e: unknown) => e,
      )
      doomed.abort(new Error('test abort'))
      expect(doomed.status).toBe('aborted')
      await expect(w1).rejects.toBeInstanceOf(StreamAbortedError)
      expect(await reading).toBeInstanceOf(StreamResetError)
      expect(remoteDoomed.status).toBe('reset')
      // the healthy one still works end to end
      expect(dec.decode(await readAll(remoteHealthy))).toBe('b')
      await remoteHealthy.sink([enc.encode('still here')])
      expect(dec.decode(await readAll(healthy))).toBe('still here')
      // and the server can reset a stream the client reads from
      const third = await conn.newStream()
      void third.sink([enc.encode('x')]).catch(() => {})
      await waitFor(() => serverStreams.length === 3, 'third inbound stream')
      serverStreams[2]!.abort(new Error('server says no'))
      await expect(readAll(third)).rejects.toBeInstanceOf(StreamResetError)
      expect(conn.status).toBe('open')
    })

    it('applies backpressure: a reader that never reads bounds the writer', async () => {
      const { server, client, addr } = await pair()
      const held: Stream[] = []
      server.handle(stream => {
        held.push(stream) // never read
      })
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      let pulled = 0
      const chunk = new Uint8Array(65536)
      const writing = stream
        .sink(
          (function* () {
            for (let i = 0; i < 4096; i++) {
              pulled += chunk.byteLength // 256 MiB offered in total
              yield chunk
            }
          })(),
        )
        .catch(() => {})
      await waitFor(() => pulled >= 128 * 1024, 'writer to start')
      let last = -1
      await waitFor(
        async () => {
          const before = pulled
          await new Promise(r => setTimeout(r, 300))
          const stalled = pulled === before && before === last
          last = pulled
          return stalled
        },
        'writer to stall',
        20_000,
      )
      // at most one window plus transport buffers, far below the 256 MiB offered
      expect(pulled).toBeLessThan(32 * 1024 * 1024)
      // reading resumes the flow
      const reader = drain(held[0]!)
      await waitFor(() => pulled > last + 8 * 1024 * 1024, 'writer to resume', 30_000)
      stream.abort(new Error('done'))
      await writing
      await reader.catch(() => {})
    })

    it(`moves ${((target.bigTransferBytes ?? 256 * 2 ** 20) / 2 ** 20).toFixed(0)} MiB byte-exact (sha256)`, async () => {
      const total = target.bigTransferBytes ?? 256 * 2 ** 20
      const { server, client, addr } = await pair()
      server.handle(stream => {
        void (async () => {
          const got = await drain(stream)
          await stream.sink([enc.encode(`${got.bytes} ${got.sha256}`)])
        })()
      })
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      const sent = sha256Tap(pseudoRandomChunks(total, 65536, 7))
      await stream.sink(sent.source)
      const [bytes, digest] = dec.decode(await readAll(stream)).split(' ')
      expect(Number(bytes)).toBe(total)
      expect(digest).toBe(sent.digest())
    }, 180_000)

    it('closes a listener: no new connections, accepted ones closed', async () => {
      const { server, client, addr } = await pair()
      const conn = await client.dial(addr)
      await server.close()
      await expect(conn.closed).resolves.toSatisfy(() => true)
      expect(conn.status).toBe('closed')
      await expect(client.dial(addr)).rejects.toThrow()
    })

    it('aborts a dial through its signal', async () => {
      const { client, addr } = await pair()
      await expect(client.dial(addr, { signal: AbortSignal.abort() })).rejects.toThrow()
      if (target.silentServer === undefined) return
      const silent = await target.silentServer()
      try {
        const controller = new AbortController()
        const dialing = client.dial(silent.addr, { signal: controller.signal })
        setTimeout(() => controller.abort(), 200)
        const started = Date.now()
        await expect(dialing).rejects.toBeInstanceOf(AbortError)
        expect(Date.now() - started).toBeLessThan(2_000)
        expect(client.connections()).toHaveLength(0)
      } finally {
        await silent.close()
      }
    })

    it('a connection outlives the signal its dial was given', async () => {
      const { server, client, addr } = await pair()
      echo(server)
      const dial = new AbortController()
      const conn = await client.dial(addr, { signal: dial.signal })
      dial.abort(new Error('dial deadline passed')) // typically AbortSignal.timeout: it bounds the dial, not the link
      await new Promise(r => setTimeout(r, 100))
      expect(conn.status).toBe('open')
      const stream = await conn.newStream()
      await stream.sink([enc.encode('still here')])
      expect(dec.decode(await readAll(stream))).toBe('still here')
    })

    it('fails a dial when another peer answers (UnexpectedPeerError)', async () => {
      const { server, client, addr } = await pair()
      const someoneElse = createNetwork({ privateKey: await generateKey(), transports: [target.transport()] })
      networks.push(someoneElse)
      const wrong = addr.replace(server.peerId.toString(), someoneElse.peerId.toString())
      const err = await client.dial(wrong).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(UnexpectedPeerError)
      const e = err as UnexpectedPeerError
      expect(e.expected).toBe(someoneElse.peerId.toString())
      expect(e.actual).toBe(server.peerId.toString())
      expect(e.message).toContain(someoneElse.peerId.toString())
      expect(client.connections()).toHaveLength(0)
      // the right peer ID works
      const conn = await client.dial(addr, { remotePeer: parsePeerId(server.peerId.toString()) })
      expect(conn.remotePeer.equals(server.peerId)).toBe(true)
    })

    it('closes a connection gracefully; open streams end, counters settle', async () => {
      const { server, client, addr } = await pair()
      echo(server)
      const conn = await client.dial(addr)
      const stream = await conn.newStream()
      await stream.sink([enc.encode('bye')])
      expect(dec.decode(await readAll(stream))).toBe('bye')
      await conn.close()
      expect(conn.status).toBe('closed')
      expect(conn.stats.openStreams).toBe(0)
      await expect(conn.newStream()).rejects.toThrow()
      await waitFor(() => server.connections().length === 0, 'server side to see the close')
    })
  })
}
