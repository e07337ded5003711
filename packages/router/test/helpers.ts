import { type ChannelRegistry, createChannelRegistry, messages, openChannel } from '@pnet/channel'
import {
  createNetwork,
  generateKey,
  type LogFn,
  type Logger,
  type MemoryHub,
  memory,
  type Network,
  type PeerId,
  peerIdFromKey,
} from '@pnet/network'
import { ControlDecoder, ControlEncoder } from '../src/control-codec.js'
import { lengthPrefixed } from '../src/frame-io.js'
import { FrameQueue } from '../src/frame-queue.js'
import type { ControlMessage } from '../src/messages.js'
import { type PeerKey, peerKeyOf } from '../src/peer-key.js'
import { CONTROL_CHANNEL } from '../src/protocols.js'
import { createRouter, type Router, type RouterInit } from '../src/router.js'

/** fresh peer keys with real Ed25519 identities */
export async function peerKeys(n: number): Promise<PeerKey[]> {
  return Promise.all(Array.from({ length: n }, async () => peerKeyOf(peerIdFromKey(await generateKey()))))
}

export interface TestNode {
  name: string
  network: Network
  channels: ChannelRegistry
  router: Router
  peerId: PeerId
  close(): Promise<void>
}

let counter = 0

/** A network on the hub, its registry, and (unless `router: false`) a router; listening on /memory/<name>. */
export async function testNode(
  hub: MemoryHub,
  options: Partial<Omit<RouterInit, 'network' | 'channels'>> & { latencyMs?: number; router?: false } = {},
): Promise<TestNode> {
  const name = `t${++counter}-${Math.random().toString(36).slice(2, 8)}`
  const network = createNetwork({
    privateKey: await generateKey(),
    transports: [memory({ hub, latencyMs: options.latencyMs ?? 0 })],
    limits: { idleTimeoutMs: 0 },
  })
  const channels = createChannelRegistry({ localPeer: network.peerId })
  network.handle(channels.accept)
  await network.listen(`/memory/${name}`)
  const router =
    options.router === false ? (undefined as unknown as Router) : createRouter({ ...options, network, channels })
  return {
    name,
    network,
    channels,
    router,
    peerId: network.peerId,
    async close() {
      await router?.stop({ signal: AbortSignal.timeout(500) })
      await network.close({ signal: AbortSignal.timeout(500) })
    },
  }
}

/** `a` dials `b` */
export async function link(a: TestNode, b: TestNode): Promise<void> {
  await a.network.dial(`/memory/${b.name}`)
}

/** A synthetic peer ID (identity multihash of a random Ed25519 public key): cheap, for tables of thousands. */
export function fakePeerBytes(seed: number): Uint8Array {
  const bytes = new Uint8Array(38)
  bytes.set([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
  let x = seed * 2654435761 + 1
  for (let i = 6; i < 38; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

/**
 * A hand-driven neighbour: it speaks the router control channel with the real codec, but sends only what the test
 * tells it to, and reads (or does not read) what the router sends.
 */
export interface FakeNeighbour {
  node: TestNode
  /** decoded messages received from the router (when reading) */
  received: ControlMessage[]
  send(msg: ControlMessage): void
  /** raw bytes, framed as given (for malformed-frame tests) */
  sendRaw(frame: Uint8Array): void
  close(): Promise<void>
}

export async function fakeNeighbour(
  hub: MemoryHub,
  target: TestNode,
  options: { read?: boolean } = {},
): Promise<FakeNeighbour> {
  const node = await testNode(hub, { router: false })
  const received: FakeNeighbour['received'] = []
  node.channels.handle(CONTROL_CHANNEL, async (stream, ctx) => {
    if (options.read === false) {
      await new Promise(resolve => ctx.signal.addEventListener('abort', resolve))
      return
    }
    const decoder = new ControlDecoder()
    for await (const frame of messages(stream, { maxMessageSize: 1 << 20 })) {
      const msg = decoder.decode(frame)
      if (msg !== undefined) received.push(msg)
    }
  })
  const conn = await node.network.dial(`/memory/${target.name}`)
  const opened = await openChannel(await conn.newStream(), CONTROL_CHANNEL, { localPeer: node.peerId })
  const queue = new FrameQueue()
  opened.stream.sink(queue.source()).catch(() => {})
  const encoder = new ControlEncoder()
  return {
    node,
    received,
    send(msg) {
      const frame = encoder.encode(msg)
      if (frame !== undefined) queue.push(lengthPrefixed(frame))
    },
    sendRaw(frame) {
      queue.push(frame)
    },
    close: () => node.close(),
  }
}

/**
 * A logger that counts lines by level, message and reason (debug included): what a large simulation prints when an
 * assertion fails, so a link lost under load says why.
 */
export function tallyLogger(): Logger & { top(n?: number): string } {
  const counts = new Map<string, number>()
  const line =
    (level: string): LogFn =>
    (obj: unknown, msg?: string) => {
      const text = typeof obj === 'string' ? obj : (msg ?? '')
      const reason = typeof obj === 'object' && obj !== null ? (obj as { reason?: unknown }).reason : undefined
      const key = `${level} ${text}${
        reason === undefined
          ? ''
          : `: ${String(reason)
              .replace(/12D3\w+/g, 'PEER')
              .slice(0, 160)}`
      }`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  const logger = {
    trace: () => {},
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    top: (n = 25) =>
      [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([k, v]) => `${String(v).padStart(7)}  ${k}`)
        .join('\n'),
  }
  return logger
}
