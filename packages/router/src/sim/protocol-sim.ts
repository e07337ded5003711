/**
 * A discrete-event simulation of the routing protocol alone: the real {@link RoutingTable} of every node, the real
 * control codec on every link (so byte counts are the wire's), virtual time, a fixed one-way latency per link and
 * in-order delivery, as on a stream. No sockets, no Noise: it runs thousands of nodes in seconds and checks
 * invariants after every single event, which the network simulation (network-sim.ts) cannot.
 *
 * @example
 * ```ts
 * const sim = await createProtocolSim({ size: 100, edges: topologies.ring(100) })
 * sim.runUntilQuiet()
 * checkRoutes(sim.view(), { shortest: true }).ok   // true
 * sim.cut(0, 1); sim.runUntilQuiet()
 * ```
 */
import { generateKey, peerIdFromKey } from '@pnet/network'
import { ControlDecoder, ControlEncoder } from '../control-codec.js'
import { type RouterLimits, type RouterTimers, resolveRouterLimits, resolveRouterTimers } from '../limits.js'
import type { ControlMessage } from '../messages.js'
import { type PeerKey, peerKeyOf } from '../peer-key.js'
import { RoutingTable } from '../routing-table.js'
import type { RoutingView } from './checks.js'
import { adjacency, type Edge, seededRandom } from './topologies.js'

export interface ProtocolSimOptions {
  size: number
  edges: readonly Edge[]
  /** one-way latency of every link, ms (default 1) */
  latencyMs?: number
  timers?: Partial<RouterTimers>
  limits?: Partial<RouterLimits>
  seed?: number
  /** called after every event (for invariant checks); slows big runs down */
  afterEvent?: (sim: ProtocolSim) => void
  /** peer keys to reuse (e.g. from a previous run), else fresh Ed25519 identities */
  keys?: PeerKey[]
}

export interface ProtocolSimStats {
  messages: number
  bytes: number
  events: number
}

interface SimNode {
  index: number
  key: PeerKey
  table: RoutingTable
  alive: boolean
  links: Map<number, SimLink>
  tickAt: number
  sent: { messages: number; bytes: number }
}

interface SimLink {
  /** generation: messages from an older link instance are dropped */
  id: number
  up: boolean
  encoder: ControlEncoder
  decoder: ControlDecoder
}

type SimEvent =
  | { at: number; seq: number; kind: 'deliver'; from: number; to: number; link: number; frame: Uint8Array }
  | { at: number; seq: number; kind: 'tick'; node: number }
  | { at: number; seq: number; kind: 'call'; fn: () => void }

/** Binary min-heap on (at, seq): equal times keep their insertion order, which keeps each link in order. */
class EventQueue {
  readonly #heap: SimEvent[] = []
  get size(): number {
    return this.#heap.length
  }
  push(e: SimEvent): void {
    const h = this.#heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p]
      if (parent === undefined || !before(e, parent)) break
      h[i] = parent
      i = p
    }
    h[i] = e
  }
  pop(): SimEvent | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (h.length === 0 || last === undefined) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const left = h[l] as SimEvent
      const right = h[r]
      const c = right !== undefined && before(right, left) ? r : l
      const child = h[c] as SimEvent
      if (!before(child, last)) break
      h[i] = child
      i = c
    }
    h[i] = last
    return top
  }
  peek(): SimEvent | undefined {
    return this.#heap[0]
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Builds a protocol simulation with fresh identities (or `options.keys`). */
export async function createProtocolSim(options: ProtocolSimOptions): Promise<ProtocolSim> {
  let keys = options.keys
  if (keys === undefined) {
    const ids = await Promise.all(Array.from({ length: options.size }, async () => peerIdFromKey(await generateKey())))
    // made in one go, after the identities: the keys (the objects every routing table touches for every entry) end
    // up next to each other in memory instead of between key pairs, which keeps them in the CPU caches
    keys = ids.map(peerKeyOf)
  }
  return new ProtocolSim(options, keys)
}

export class ProtocolSim {
  now = 0
  readonly nodes: SimNode[] = []
  readonly stats: ProtocolSimStats = { messages: 0, bytes: 0, events: 0 }
  readonly #queue = new EventQueue()
  readonly #latency: number
  readonly #byKey = new Map<string, number>()
  readonly #options: ProtocolSimOptions
  readonly #limits: Readonly<RouterLimits>
  readonly #timers: Readonly<RouterTimers>
  readonly #random: () => number
  #seq = 0
  #linkIds = 0
  #inFlight = 0

  constructor(options: ProtocolSimOptions, keys: PeerKey[]) {
    this.#options = options
    this.#latency = options.latencyMs ?? 1
    this.#limits = resolveRouterLimits(options.limits)
    this.#timers = resolveRouterTimers(options.timers)
    this.#random = seededRandom(options.seed ?? 1)
    for (let i = 0; i < options.size; i++) this.addNode(keys[i])
    for (const [a, b] of options.edges) this.connect(a, b)
  }

  /** Adds a node (not linked yet); returns its index. */
  addNode(key?: PeerKey): number {
    if (key === undefined) throw new TypeError('addNode needs a peer key (use createProtocolSim for fresh ones)')
    const index = this.nodes.length
    const node: SimNode = {
      index,
      key,
      alive: true,
      links: new Map(),
      tickAt: Number.POSITIVE_INFINITY,
      sent: { messages: 0, bytes: 0 },
      table: new RoutingTable({
        self: key,
        limits: this.#limits,
        timers: this.#timers,
        now: () => this.now,
        random: this.#random,
        send: (to, msg) => this.#send(index, to, msg),
      }),
    }
    this.nodes.push(node)
    this.#byKey.set(key.key, index)
    this.#reschedule(node)
    return index
  }

  /** Brings up a link between two live nodes (both ends see it at once, as after a handshake). */
  connect(a: number, b: number): void {
    const na = this.#node(a)
    const nb = this.#node(b)
    if (!na.alive || !nb.alive || na.links.get(b)?.up === true || a === b) return
    const id = ++this.#linkIds
    na.links.set(b, { id, up: true, encoder: new ControlEncoder(), decoder: new ControlDecoder() })
    nb.links.set(a, { id, up: true, encoder: new ControlEncoder(), decoder: new ControlDecoder() })
    na.table.linkUp(nb.key, 1)
    nb.table.linkUp(na.key, 1)
    this.#reschedule(na)
    this.#reschedule(nb)
  }

  /** Cuts a link: both ends notice at once; frames in flight are lost. */
  cut(a: number, b: number): void {
    const na = this.#node(a)
    const nb = this.#node(b)
    if (na.links.get(b)?.up !== true) return
    na.links.delete(b)
    nb.links.delete(a)
    na.table.linkDown(nb.key)
    nb.table.linkDown(na.key)
    this.#reschedule(na)
    this.#reschedule(nb)
  }

  /** A node dies without a word: its links are cut. */
  kill(i: number): void {
    const node = this.#node(i)
    if (!node.alive) return
    for (const j of [...node.links.keys()]) this.cut(i, j)
    node.alive = false
  }

  /** Graceful leave: the node retracts its routes, and its links close once the retractions are delivered. */
  leave(i: number): void {
    const node = this.#node(i)
    if (!node.alive) return
    node.table.stop()
    node.alive = false
    this.#push({ at: this.now + this.#latency + 1, seq: 0, kind: 'call', fn: () => this.#closeLinks(i) })
  }

  #closeLinks(i: number): void {
    const node = this.#node(i)
    for (const j of [...node.links.keys()]) this.cut(i, j)
  }

  /** Runs `fn` at virtual time `at`. */
  at(at: number, fn: () => void): void {
    this.#push({ at, seq: 0, kind: 'call', fn })
  }

  /** Processes events until `until` (virtual ms). */
  runUntil(until: number): void {
    for (;;) {
      const next = this.#queue.peek()
      if (next === undefined || next.at > until) break
      this.#step()
    }
    this.now = Math.max(this.now, until)
  }

  /**
   * Runs until no frame is in flight and every node is idle (converged), or `maxMs` of virtual time pass. Returns
   * the virtual time at which it went quiet, or undefined when it did not.
   */
  runUntilQuiet(maxMs = 600_000): number | undefined {
    const deadline = this.now + maxMs
    for (;;) {
      if (this.#inFlight === 0 && this.nodes.every(n => !n.alive || n.table.idle)) return this.now
      const next = this.#queue.peek()
      if (next === undefined) return this.now
      if (next.at > deadline) return undefined
      this.#step()
    }
  }

  #step(): void {
    const e = this.#queue.pop()
    if (e === undefined) return
    this.now = Math.max(this.now, e.at)
    this.stats.events++
    switch (e.kind) {
      case 'deliver': {
        this.#inFlight--
        const to = this.#node(e.to)
        const link = to.links.get(e.from)
        if (link === undefined || link.id !== e.link || !to.alive) break
        const msg = link.decoder.decode(e.frame)
        if (msg !== undefined) to.table.receive(this.#node(e.from).key, msg)
        this.#reschedule(to)
        break
      }
      case 'tick': {
        const node = this.#node(e.node)
        if (node.tickAt !== e.at || !node.alive) break
        node.tickAt = Number.POSITIVE_INFINITY
        node.table.tick()
        this.#reschedule(node)
        break
      }
      case 'call':
        e.fn()
        break
    }
    this.#options.afterEvent?.(this)
  }

  #send(from: number, to: PeerKey, msg: ControlMessage): void {
    const j = this.#byKey.get(to.key)
    if (j === undefined) return
    const node = this.#node(from)
    const link = node.links.get(j)
    if (link === undefined) return
    const frame = link.encoder.encode(msg)
    if (frame === undefined) return
    node.sent.messages++
    node.sent.bytes += frame.byteLength
    this.stats.messages++
    this.stats.bytes += frame.byteLength
    this.#inFlight++
    this.#push({ at: this.now + this.#latency, seq: 0, kind: 'deliver', from, to: j, link: link.id, frame })
  }

  #reschedule(node: SimNode): void {
    const at = Math.max(node.table.nextDeadline(), this.now)
    if (at < node.tickAt) {
      node.tickAt = at
      this.#push({ at, seq: 0, kind: 'tick', node: node.index })
    }
  }

  #push(e: SimEvent): void {
    e.seq = ++this.#seq
    this.#queue.push(e)
  }

  #node(i: number): SimNode {
    const node = this.nodes[i]
    if (node === undefined) throw new RangeError(`no node ${i} (simulation has ${this.nodes.length})`)
    return node
  }

  /** Live links of node `i`. */
  neighbours(i: number): number[] {
    return [...this.#node(i).links.keys()]
  }

  /** The simulation as seen by {@link checkRoutes}. */
  view(): RoutingView {
    const adjacency = this.nodes.map(n => [...n.links.keys()])
    return {
      size: this.nodes.length,
      alive: i => this.nodes[i]?.alive === true,
      neighbours: i => adjacency[i] ?? [],
      nextHop: (i, j) => {
        const dest = this.nodes[j]
        const hop = dest === undefined ? undefined : this.nodes[i]?.table.nextHop(dest.key)
        return hop === undefined ? undefined : this.#byKey.get(hop.key)
      },
      hops: (i, j) => {
        const dest = this.nodes[j]
        return dest === undefined ? undefined : this.nodes[i]?.table.route(dest.key)?.hops
      },
    }
  }

  /** For each node, how many others it can reach over live links (what its route count should be). */
  reachableCounts(): number[] {
    const n = this.nodes.length
    const component = new Int32Array(n).fill(-1)
    const sizes: number[] = []
    for (let start = 0; start < n; start++) {
      if (component[start] !== -1 || !this.nodes[start]?.alive) continue
      const id = sizes.length
      const queue = [start]
      component[start] = id
      for (let q = 0; q < queue.length; q++) {
        for (const v of this.nodes[queue[q] ?? 0]?.links.keys() ?? []) {
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

  /** true when every live node has exactly as many routes as nodes it can reach (a cheap completeness test) */
  routesComplete(): boolean {
    const want = this.reachableCounts()
    return this.nodes.every((node, i) => !node.alive || node.table.size === want[i])
  }

  /** Adjacency of the given edges, for building expectations. */
  static adjacency(n: number, edges: readonly Edge[]): number[][] {
    return adjacency(n, edges)
  }
}
