/**
 * A simulation with real routers on real networks: memory transport (Noise + yamux on every link), channel
 * registries, relayed end-to-end connections and broadcasts, all in one process. Links are cut with the hub
 * (`hub.cut`, both ends see a reset), black-holed (bytes vanish; only the router's hellos notice), nodes killed
 * (links cut, no goodbye) or leave gracefully (`router.stop()`).
 *
 * @example
 * ```ts
 * const sim = await createNetworkSim({ size: 100, edges: topologies.random(100, 3, 1) })
 * await sim.waitConverged({ shortest: true })
 * const { hops, linkStreams } = await sim.unicast(0, 99)   // linkStreams === hops
 * sim.cut(0, 1); await sim.waitConverged()
 * await sim.close()
 * ```
 */
import { type ChannelRegistry, createChannelRegistry, openChannel } from '@pnet/channel'
import {
  createMemoryHub,
  createNetwork,
  generateKey,
  type Limits,
  type Logger,
  type MemoryHub,
  memory,
  type Network,
  type PeerId,
} from '@pnet/network'
import type { LinkMetric } from '../control-link.js'
import type { RouterLimits, RouterTimers } from '../limits.js'
import { type PeerKey, peerKeyOf } from '../peer-key.js'
import { createRouter, type Router } from '../router.js'
import { type CheckOptions, type CheckReport, checkRoutes, type RoutingView } from './checks.js'
import type { Edge } from './topologies.js'

/** Every node of a network simulation answers this channel by echoing the stream back. */
export const SIM_ECHO_CHANNEL = '/pnet/sim/echo'

export interface NetworkSimOptions {
  size: number
  edges: readonly Edge[]
  /** one-way latency of every link, ms (default 0) */
  latencyMs?: number
  metric?: LinkMetric
  limits?: Partial<RouterLimits>
  timers?: Partial<RouterTimers>
  /** network limits of every node (default: no idle timeout, 1,024 pending handshakes) */
  networkLimits?: Partial<Limits>
  /** dials in flight while building (default 64) */
  concurrency?: number
  /**
   * `after-links` (default): build every network and link, then start every router at once — batched startup,
   * the fastest way to a converged overlay. `first`: routers run while the links form, as when nodes join a live
   * overlay one connection at a time.
   */
  startRouters?: 'after-links' | 'first'
  logger?: Logger
  hub?: MemoryHub
}

export interface NetworkSimNode {
  readonly index: number
  readonly network: Network
  readonly channels: ChannelRegistry
  /** set once the node's router runs (see `startRouters`) */
  router: Router
  readonly peerId: PeerId
  alive: boolean
}

export interface UnicastResult {
  /** hops of the route used (1 for a neighbour) */
  hops: number
  /** link streams the stream used: the relay streams opened by the source and every relay, or 1 when direct */
  linkStreams: number
  relayed: boolean
}

let simCount = 0

/** Placeholder router of a node whose router has not been started: every call throws. */
const NOT_STARTED = new Proxy({} as Router, {
  get(_target, prop) {
    if (prop === 'then') return undefined
    throw new Error(`router not started yet (accessed ${String(prop)}); call sim.startRouter(i)`)
  },
})

/** Builds and links a network simulation. */
export async function createNetworkSim(options: NetworkSimOptions): Promise<NetworkSim> {
  const sim = new NetworkSim(options)
  const first = options.startRouters === 'first'
  for (let i = 0; i < options.size; i++) await sim.addNode({ start: first })
  await sim.linkAll(options.edges)
  if (!first) for (const node of sim.nodes) sim.startRouter(node.index)
  return sim
}

export class NetworkSim {
  readonly hub: MemoryHub
  readonly nodes: NetworkSimNode[] = []
  readonly #options: NetworkSimOptions
  readonly #byKey = new Map<string, number>()
  readonly #byPeerId = new Map<PeerId, number>()
  /** held so the interned keys (and their PeerId objects, which the routers hand out) stay the same objects */
  readonly #keys: PeerKey[] = []
  readonly #name = `sim${++simCount}`

  constructor(options: NetworkSimOptions) {
    this.#options = options
    this.hub = options.hub ?? createMemoryHub()
  }

  /** Adds a node (listening, not linked) and, unless `start` is false, starts its router; returns its index. */
  async addNode(options: { start?: boolean } = {}): Promise<number> {
    const index = this.nodes.length
    const network = createNetwork({
      privateKey: await generateKey(),
      transports: [memory({ hub: this.hub, latencyMs: this.#options.latencyMs ?? 0 })],
      limits: { idleTimeoutMs: 0, maxPendingHandshakes: 1024, ...this.#options.networkLimits },
      logger: this.#options.logger,
    })
    const channels = createChannelRegistry({ localPeer: network.peerId, logger: this.#options.logger })
    network.handle(channels.accept)
    channels.handle(SIM_ECHO_CHANNEL, async stream => {
      await stream.sink(stream.source)
    })
    await network.listen(`/memory/${this.#name}-${index}`)
    this.nodes.push({ index, network, channels, router: NOT_STARTED, peerId: network.peerId, alive: true })
    const key = peerKeyOf(network.peerId)
    this.#keys.push(key)
    this.#byKey.set(key.key, index)
    this.#byPeerId.set(key.peerId, index)
    this.#byPeerId.set(network.peerId, index)
    if (options.start !== false) this.startRouter(index)
    return index
  }

  /** Starts node `i`'s router (it takes up the connections the node already has). */
  startRouter(i: number): Router {
    const node = this.#node(i)
    if (node.router !== NOT_STARTED) return node.router
    node.router = createRouter({
      network: node.network,
      channels: node.channels,
      metric: this.#options.metric,
      limits: this.#options.limits,
      timers: this.#options.timers,
      logger: this.#options.logger,
    })
    return node.router
  }

  /** Dials `a` → `b`. */
  async link(a: number, b: number): Promise<void> {
    const from = this.#node(a)
    await from.network.dial(`/memory/${this.#name}-${b}`)
  }

  /** Dials every edge, `concurrency` at a time. */
  async linkAll(edges: readonly Edge[]): Promise<void> {
    const limit = this.#options.concurrency ?? 64
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < edges.length) {
        const edge = edges[next++]
        if (edge !== undefined) await this.link(edge[0], edge[1])
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, edges.length) }, worker))
  }

  /** Cuts the links between two nodes (both ends see a reset); returns how many were cut. */
  cut(a: number, b: number): number {
    return this.hub.cut(this.#node(a).peerId, this.#node(b).peerId)
  }

  /** Black-holes (or restores) the links between two nodes: bytes vanish silently. */
  blackhole(a: number, b: number, on: boolean): number {
    return this.hub.blackhole(this.#node(a).peerId, this.#node(b).peerId, on)
  }

  /** Kills a node: its links are cut at once (no retraction), then it shuts down. */
  async kill(i: number): Promise<void> {
    const node = this.#node(i)
    if (!node.alive) return
    node.alive = false
    for (const link of this.hub.links(node.peerId)) link.cut()
    if (node.router !== NOT_STARTED) await node.router.stop({ signal: AbortSignal.timeout(100) })
    await node.network.close({ signal: AbortSignal.timeout(100) })
  }

  /** Graceful leave: the router retracts its routes, then the network closes. */
  async leave(i: number): Promise<void> {
    const node = this.#node(i)
    if (!node.alive) return
    node.alive = false
    if (node.router !== NOT_STARTED) await node.router.stop()
    await node.network.close()
  }

  /** The live graph and every router's routes, as {@link checkRoutes} wants them (a snapshot). */
  view(): RoutingView {
    const n = this.nodes.length
    const adjacency = this.#adjacency()
    // routes as dense arrays: next[i * n + j] is the next hop index from i to j, or -1
    const next = new Int32Array(n * n).fill(-1)
    const hops = new Int32Array(n * n).fill(-1)
    for (const node of this.nodes) {
      if (!node.alive) continue
      const base = node.index * n
      node.router.forEachRoute((dest, hop, h) => {
        const j = this.indexOf(dest)
        const k = this.indexOf(hop)
        if (j === undefined || k === undefined) return
        next[base + j] = k
        hops[base + j] = h
      })
    }
    return {
      size: n,
      alive: i => this.nodes[i]?.alive === true,
      neighbours: i => adjacency[i] ?? [],
      nextHop: (i, j) => {
        const k = next[i * n + j] ?? -1
        return k < 0 ? undefined : k
      },
      hops: (i, j) => {
        const h = hops[i * n + j] ?? -1
        return h < 0 ? undefined : h
      },
    }
  }

  /** live, unblocked links as adjacency lists */
  #adjacency(): number[][] {
    const adjacency: number[][] = this.nodes.map(() => [])
    for (const link of this.hub.links()) {
      const a = this.#index(link.dialer)
      const b = this.#index(link.listener)
      if (a === undefined || b === undefined || link.blackhole) continue
      if (!this.nodes[a]?.alive || !this.nodes[b]?.alive) continue
      if (!adjacency[a]?.includes(b)) adjacency[a]?.push(b)
      if (!adjacency[b]?.includes(a)) adjacency[b]?.push(a)
    }
    return adjacency
  }

  /** For each node, how many others it can reach over live links (what its route count should be). */
  reachableCounts(): number[] {
    const adjacency = this.#adjacency()
    const component = new Int32Array(this.nodes.length).fill(-1)
    const sizes: number[] = []
    for (let start = 0; start < this.nodes.length; start++) {
      if (component[start] !== -1 || !this.nodes[start]?.alive) continue
      const id = sizes.length
      const queue = [start]
      component[start] = id
      for (let q = 0; q < queue.length; q++) {
        for (const v of adjacency[queue[q] ?? 0] ?? []) {
          if (component[v] === -1) {
            component[v] = id
            queue.push(v)
          }
        }
      }
      sizes.push(queue.length)
    }
    return this.nodes.map((node, i) => (node.alive ? (sizes[component[i] ?? 0] ?? 1) - 1 : 0))
  }

  /** Routes known by every live node: a cheap convergence signal before a full check. */
  routeCounts(): number[] {
    return this.nodes.map(node => (node.alive ? node.router.stats().routes : 0))
  }

  /** Checks the routes now. */
  check(options: CheckOptions = {}): CheckReport {
    return checkRoutes(this.view(), options)
  }

  /**
   * Polls until every connected pair has a loop-free route (and, with `shortest`, a shortest one; with
   * `noStaleRoutes`, none to unreachable nodes); throws with the last report after `timeoutMs`.
   */
  async waitConverged(options: CheckOptions & { timeoutMs?: number; pollMs?: number } = {}): Promise<CheckReport> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000)
    // route counts first (cheap); the full check only once they add up
    for (;;) {
      const want = this.reachableCounts()
      const have = this.routeCounts()
      if (have.every((count, i) => count === want[i] || (options.noStaleRoutes !== true && count > (want[i] ?? 0))))
        break
      if (Date.now() > deadline) break
      await new Promise(resolve => setTimeout(resolve, options.pollMs ?? 100))
    }
    let report = this.check(options)
    while (!report.ok) {
      if (Date.now() > deadline) {
        throw new Error(
          `routes did not converge in ${options.timeoutMs ?? 60_000} ms: ${JSON.stringify({ ...report, examples: report.examples })}`,
        )
      }
      await new Promise(resolve => setTimeout(resolve, options.pollMs ?? 100))
      report = this.check(options)
    }
    return report
  }

  /**
   * Opens the echo channel from `a` to `b` on a fresh connection, checks the echo, and counts the link streams
   * it took (summed relay counters of every node).
   */
  async unicast(a: number, b: number, payload = new TextEncoder().encode(`hello ${a}→${b}`)): Promise<UnicastResult> {
    const from = this.#node(a)
    const to = this.#node(b)
    const before = this.#relayStreams()
    const conn = await from.router.connect(to.peerId)
    const relayed = conn.transport === 'relay'
    try {
      const stream = await conn.newStream()
      const { stream: ch } = await openChannel(stream, SIM_ECHO_CHANNEL, { localPeer: from.peerId })
      await ch.sink([payload])
      const chunks: Uint8Array[] = []
      for await (const chunk of ch.source) chunks.push(chunk)
      const echoed = Buffer.concat(chunks)
      if (!echoed.equals(Buffer.from(payload))) throw new Error(`echo ${a}→${b} came back different`)
    } finally {
      if (relayed) await conn.close()
    }
    const hops = relayed ? (from.router.route(to.peerId)?.hops ?? -1) : 1
    return { hops, linkStreams: relayed ? this.#relayStreams() - before : 1, relayed }
  }

  #relayStreams(): number {
    let n = 0
    for (const node of this.nodes) {
      const { relay } = node.router.stats()
      n += relay.dialed + relay.forwarded
    }
    return n
  }

  /** Control traffic summed over every node. */
  controlTraffic(): { framesOut: number; bytesOut: number } {
    let framesOut = 0
    let bytesOut = 0
    for (const node of this.nodes) {
      const { control } = node.router.stats()
      framesOut += control.framesOut
      bytesOut += control.bytesOut
    }
    return { framesOut, bytesOut }
  }

  /** Index of a peer (PeerId, PeerKey or peer ID text). */
  indexOf(peer: PeerId | PeerKey | string): number | undefined {
    if (typeof peer === 'string') return this.#index(peer)
    if ('key' in peer) return this.#byKey.get(peer.key)
    // the routers hand out the interned PeerId objects: identity first, bytes only for others
    return this.#byPeerId.get(peer) ?? this.#byKey.get(peerKeyOf(peer).key)
  }

  #index(peerText: string): number | undefined {
    return this.#textIndex().get(peerText)
  }

  #texts: Map<string, number> | undefined
  #textIndex(): Map<string, number> {
    if (this.#texts === undefined || this.#texts.size !== this.nodes.length) {
      this.#texts = new Map(this.nodes.map(n => [n.peerId.toString(), n.index]))
    }
    return this.#texts
  }

  #node(i: number): NetworkSimNode {
    const node = this.nodes[i]
    if (node === undefined) throw new RangeError(`no node ${i} (simulation has ${this.nodes.length})`)
    return node
  }

  /** Stops every router and closes every network. */
  async close(): Promise<void> {
    await Promise.all(
      this.nodes.map(async n => {
        if (!n.alive) return
        n.alive = false
        if (n.router !== NOT_STARTED) await n.router.stop({ signal: AbortSignal.timeout(500) })
        await n.network.close({ signal: AbortSignal.timeout(500) })
      }),
    )
  }
}
