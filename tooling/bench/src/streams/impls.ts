/**
 * The three things the stream benchmark compares, behind one small interface: raw node:net TCP, pnet, and a stock
 * js-libp2p node. Every stream starts with one mode byte: `S` (sink: read everything, then answer the byte count as
 * 8 bytes) or `E` (echo everything back).
 */
import { once } from 'node:events'
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Stream as Libp2pStream } from '@libp2p/interface'
import { tcp as libp2pTcp } from '@libp2p/tcp'
import { webSockets as libp2pWs } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createNetwork, generateKey, memory, quic, type Stream, tcp, ws } from '@pnet/network'
import { createLibp2p, type Libp2p } from 'libp2p'

export type Mode = 'S' | 'E'
export type TransportName = 'tcp' | 'ws' | 'quic' | 'memory'

/** A byte duplex, the shape every measurement works on. */
export interface Duplex {
  source: AsyncIterable<Uint8Array>
  sink(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void>
}

export interface BenchConn {
  stream(mode: Mode): Promise<Duplex>
  close(): Promise<void>
}

export interface Served {
  addr: string
  close(): Promise<void>
}

export interface Impl {
  name: 'raw tcp' | 'pnet' | 'js-libp2p'
  supports(t: TransportName): boolean
  serve(t: TransportName): Promise<Served>
  dial(t: TransportName, addr: string): Promise<BenchConn>
}

const PROTOCOL = '/bench/1.0.0'

/** Serves one stream: the first byte picks the mode. */
export async function serveStream(d: Duplex): Promise<void> {
  const it = d.source[Symbol.asyncIterator]()
  const first = await it.next()
  if (first.done === true) return
  const mode = first.value[0]
  const rest = first.value.subarray(1)
  async function* remaining(): AsyncGenerator<Uint8Array> {
    if (rest.byteLength > 0) yield rest
    while (true) {
      const n = await it.next()
      if (n.done === true) return
      yield n.value
    }
  }
  if (mode === 0x45) {
    await d.sink(remaining())
    return
  }
  let count = 0
  for await (const c of remaining()) count += c.byteLength
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(count))
  await d.sink([out])
}

// ---------------------------------------------------------------- raw node:net
function socketDuplex(socket: net.Socket): Duplex {
  return {
    source: socket,
    async sink(source) {
      for await (const chunk of source) if (!socket.write(chunk)) await once(socket, 'drain')
      socket.end()
    },
  }
}

export const raw: Impl = {
  name: 'raw tcp',
  supports: t => t === 'tcp',
  async serve() {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, s => {
      s.on('error', () => {})
      void serveStream(socketDuplex(s)).catch(() => s.destroy())
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    return { addr: `127.0.0.1:${port}`, close: () => new Promise(r => server.close(() => r())) }
  },
  async dial(_t, addr) {
    const [host, port] = addr.split(':')
    const sockets: net.Socket[] = []
    const open = async (): Promise<net.Socket> => {
      const s = net.connect({ host, port: Number(port), noDelay: true, allowHalfOpen: true })
      await once(s, 'connect')
      sockets.push(s)
      return s
    }
    // like a multiplexed connection, the first stream reuses the socket opened by dial()
    let first: net.Socket | undefined = await open()
    return {
      async stream(mode) {
        const s = first ?? (await open())
        first = undefined
        s.write(new Uint8Array([mode.charCodeAt(0)]))
        return socketDuplex(s)
      },
      async close() {
        for (const s of sockets) s.destroy()
      },
    }
  },
}

// ---------------------------------------------------------------- pnet
function pnetTransport(t: TransportName) {
  if (t === 'tcp') return tcp()
  if (t === 'ws') return ws()
  if (t === 'quic') return quic()
  return memory()
}

function listenAddr(t: TransportName): string {
  if (t === 'tcp') return 'tcp://127.0.0.1:0'
  if (t === 'ws') return 'ws://127.0.0.1:0'
  if (t === 'quic') return 'quic://127.0.0.1:0'
  return `/memory/bench-${process.pid}-${Math.random().toString(36).slice(2)}`
}

function pnetDuplex(s: Stream, mode?: Mode): Duplex {
  return {
    source: s.source,
    sink: src =>
      s.sink(
        mode === undefined
          ? src
          : (async function* () {
              yield new Uint8Array([mode.charCodeAt(0)])
              yield* src
            })(),
      ),
  }
}

export const pnet: Impl = {
  name: 'pnet',
  supports: () => true,
  async serve(t) {
    const n = createNetwork({ privateKey: await generateKey(), transports: [pnetTransport(t)] })
    n.handle(stream => {
      void serveStream(pnetDuplex(stream)).catch(() => stream.abort(new Error('bench server failed')))
    })
    const [addr] = await n.listen(listenAddr(t))
    return { addr: String(addr), close: () => n.close() }
  },
  async dial(t, addr) {
    const n = createNetwork({ privateKey: await generateKey(), transports: [pnetTransport(t)] })
    const conn = await n.dial(addr)
    return {
      stream: async mode => pnetDuplex(await conn.newStream(), mode),
      close: () => n.close(),
    }
  },
}

// ---------------------------------------------------------------- js-libp2p
async function libp2pNode(t: TransportName, listen: boolean): Promise<Libp2p> {
  const transports = {
    tcp: () => [libp2pTcp()],
    ws: () => [libp2pWs()],
    quic: async () => [(await import('@chainsafe/libp2p-quic')).quic()],
    memory: async () => [(await import('@libp2p/memory')).memory()],
  }
  const listenOn = {
    tcp: '/ip4/127.0.0.1/tcp/0',
    ws: '/ip4/127.0.0.1/tcp/0/ws',
    quic: '/ip4/127.0.0.1/udp/0/quic-v1',
    memory: `/memory/libp2p-bench-${Math.random().toString(36).slice(2)}`,
  }
  return createLibp2p({
    addresses: { listen: listen ? [listenOn[t]] : [] },
    transports: (await transports[t]()) as never,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    // the setup measurement dials in a tight loop; the default inbound rate limit (5/s) would refuse it
    connectionManager: { inboundConnectionThreshold: 100_000, maxIncomingPendingConnections: 1_000 },
  })
}

/**
 * A js-libp2p stream as a {@link Duplex}, written the idiomatic 3.x way: send() until it says no, then wait for drain;
 * the sink closes the write side when its source ends.
 *
 * @example
 * const d = libp2pDuplex(await connection.newStream('/echo/1.0.0'))
 * await d.sink([new Uint8Array([1, 2, 3])])
 */
export function libp2pDuplex(s: Libp2pStream): Duplex {
  return {
    source: (async function* () {
      for await (const c of s) yield c instanceof Uint8Array ? c : c.subarray()
    })(),
    async sink(src) {
      for await (const chunk of src) if (!s.send(chunk)) await s.onDrain()
      await s.close()
    },
  }
}

export const libp2p: Impl = {
  name: 'js-libp2p',
  supports: () => true,
  async serve(t) {
    const node = await libp2pNode(t, true)
    await node.handle(PROTOCOL, stream => {
      void serveStream(libp2pDuplex(stream)).catch(() => stream.abort(new Error('bench server failed')))
    })
    return { addr: String(node.getMultiaddrs()[0]), close: async () => node.stop() }
  },
  async dial(t, addr) {
    const node = await libp2pNode(t, false)
    const ma = multiaddr(addr)
    const conn = await node.dial(ma)
    return {
      async stream(mode) {
        const s = await conn.newStream(PROTOCOL)
        s.send(new Uint8Array([mode.charCodeAt(0)]))
        return libp2pDuplex(s)
      },
      close: async () => node.stop(),
    }
  },
}

export const impls: Record<string, Impl> = { raw, pnet, 'js-libp2p': libp2p }
