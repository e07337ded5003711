/**
 * Shared test fixtures: the list of network adapters every integration test runs over, and a server/client pair
 * with a channel registry on the server.
 */
import { randomUUID } from 'node:crypto'
import {
  type Connection,
  createMemoryHub,
  createNetwork,
  generateKey,
  isQuicAvailable,
  type Limits,
  memory,
  type Network,
  quic,
  type TransportFactory,
  tcp,
  ws,
} from '@pnet/network'
import { type ChannelLimits, type ChannelRegistry, createChannelRegistry } from '../src/index.js'

export interface Adapter {
  name: string
  transport: () => TransportFactory
  listenAddr: () => string
}

const hub = createMemoryHub()

const quicAvailable = await isQuicAvailable()
if (!quicAvailable) console.warn('QUIC is unavailable on this machine: the channel tests run without the quic adapter')

/** Every adapter @pnet/network has; adding one is one line here. */
export const adapters: Adapter[] = [
  { name: 'tcp', transport: () => tcp(), listenAddr: () => 'tcp://127.0.0.1:0' },
  { name: 'memory', transport: () => memory({ hub }), listenAddr: () => `/memory/${randomUUID()}` },
  { name: 'ws', transport: () => ws(), listenAddr: () => 'ws://127.0.0.1:0/pnet' },
  ...(quicAvailable ? [{ name: 'quic', transport: () => quic(), listenAddr: () => 'quic://127.0.0.1:0' }] : []),
]

export interface Pair {
  server: Network
  client: Network
  registry: ChannelRegistry
  /** the client's connection to the server */
  connection: Connection
  /** the server's side of that connection, once it arrived */
  serverConnection(): Connection
}

/** A server with a channel registry and a client connected to it; close everything with `closeAll`. */
export async function pair(
  adapter: Adapter,
  opts: { limits?: Partial<ChannelLimits>; networkLimits?: Partial<Limits> } = {},
): Promise<Pair> {
  const server = createNetwork({
    privateKey: await generateKey(),
    transports: [adapter.transport()],
    limits: opts.networkLimits,
  })
  const client = createNetwork({ privateKey: await generateKey(), transports: [adapter.transport()] })
  open.push(server, client)
  const registry = createChannelRegistry({ localPeer: server.peerId, limits: opts.limits })
  server.handle(registry.accept)
  const [addr] = await server.listen(adapter.listenAddr())
  const connection = await client.dial(addr!)
  return {
    server,
    client,
    registry,
    connection,
    serverConnection: () => {
      const c = server.connections(client.peerId)[0]
      if (c === undefined) throw new Error('server has no connection from the client')
      return c
    },
  }
}

const open: Network[] = []

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map(n => n.close().catch(() => {})))
}

export const enc = new TextEncoder()
export const dec = new TextDecoder()
