/**
 * The routing state machine: distance-vector routing in the spirit of Babel (RFC 8966), with no I/O and no timers
 * of its own. Inputs are link up/down/cost, received control messages and `tick()`; outputs are messages handed to
 * `send` and route changes handed to `onRouteChange`. The same machine runs inside a live router and inside the
 * discrete-event simulator (sim/protocol-sim.ts), so both are tested by the same code.
 *
 * What it keeps, per destination: the feasibility distance (seqno, metric) of the routes it has advertised, the
 * route each neighbour advertised, the selected one and what it last advertised. Destinations live in slots of
 * typed arrays (struct of arrays, 16-bit fields, presence in flag bits), found through an open-addressing index
 * (slot-index.ts): ~50 bytes per destination (35 of fields, ~6 of index, 8 for the shared peer key reference) plus
 * 7 bytes per destination per neighbour, and no object per destination or per offer. One process can therefore
 * simulate thousands of nodes that each know thousands of destinations; the peer keys themselves are interned
 * process-wide (peer-key.ts), one per peer.
 *
 * Why routes never loop (Babel's feasibility condition): a node only selects a route whose advertised metric is
 * strictly smaller than every metric it has itself advertised for that destination at the same seqno (or that
 * carries a newer seqno). Along any chain of next hops the feasibility distances strictly decrease, so the chain
 * cannot close into a loop. When the only routes left fail the test (or beat the selected one but fail it) the node
 * asks the destination for a new seqno (a seqno request) instead of counting to infinity.
 *
 * Traffic: a change is sent once to every neighbour (triggered update, batched for `triggerDelayMs`), with split
 * horizon (the next hop of a route gets a retraction instead); a new neighbour gets the full table once; after that
 * only a digest (count + 64-bit hash of what that neighbour should hold) goes out every `refreshIntervalMs`, and a
 * neighbour whose view differs asks for the full table. A seqno that moved without changing the route is passed on
 * only towards whoever asked for it. Updates travel on reliable ordered streams, so the refresh is a safety net.
 *
 * @example
 * ```ts
 * const table = new RoutingTable({ self, limits, timers, send: (to, msg) => links.get(to.key)?.write(msg) })
 * table.linkUp(neighbour, 1)
 * table.receive(neighbour, message)
 * table.tick()                         // at table.nextDeadline()
 * table.nextHop(dest)                  // PeerKey | undefined
 * ```
 */
import type { Logger } from '@pnet/network'
import { INFINITY_METRIC, MAX_METRIC, type RouterLimits, type RouterTimers } from './limits.js'
import type { ControlMessage, DigestMessage, RouteUpdate, SeqnoRequestMessage, UpdateMessage } from './messages.js'
import { fmix32, type PeerKey } from './peer-key.js'
import { seqnoAdd, seqnoAtLeast, seqnoNewer } from './seqno.js'
import { SlotIndex } from './slot-index.js'

/** A selected route, as reported to users. */
export interface Route {
  destination: PeerKey
  nextHop: PeerKey
  /** hop count, or summed link costs (ms of RTT) with the `rtt` metric */
  metric: number
  hops: number
  seqno: number
  /** ms timestamp of the last change of next hop, metric or hops */
  changedAt: number
  /**
   * ms timestamp at which the next hop last confirmed it: the later of `changedAt` and the last update or matching
   * digest from the next hop (its updates travel in order on a reliable stream, so any later frame from it means
   * it still offers what it has not retracted)
   */
  confirmedAt: number
}

/** What {@link RoutingTable.inspect} reports about a destination. */
export interface DestinationState {
  feasibility: { seqno: number; metric: number } | undefined
  advertised: { seqno: number; metric: number; hops: number } | undefined
  selected: PeerKey | undefined
  entries: { neighbour: PeerKey; seqno: number; metric: number; hops: number; feasible: boolean }[]
  requesting: boolean
}

export interface RoutingTableInit {
  self: PeerKey
  limits: Pick<RouterLimits, 'maxDestinations' | 'maxEntriesPerUpdate' | 'maxSeqnoRequestHops'>
  timers: Pick<
    RouterTimers,
    'triggerDelayMs' | 'refreshIntervalMs' | 'seqnoRequestTimeoutMs' | 'seqnoRequestRetries' | 'sourceGcMs'
  >
  /** hands a message to the link to `to`; must not call back into the table synchronously */
  send(to: PeerKey, message: ControlMessage): void
  /** the selected route to `destination` changed; `route` is undefined when it was lost */
  onRouteChange?(destination: PeerKey, route: Route | undefined, previous: Route | undefined): void
  /** when given and false, route changes are not reported (saves building Route objects nobody reads) */
  routeChangesWanted?(): boolean
  /** ms clock; Date.now by default */
  now?: () => number
  /** [0, 1); Math.random by default */
  random?: () => number
  /** our own first seqno; random by default */
  seqno?: number
  logger?: Logger
}

/** Counters for tests, the simulator and benchmarks. */
export interface RoutingCounters {
  updatesSent: number
  entriesSent: number
  updatesReceived: number
  entriesReceived: number
  seqnoRequestsSent: number
  seqnoRequestsForwarded: number
  seqnoBumps: number
  fullTablesSent: number
  fullTableRequests: number
  digestsSent: number
  digestMismatches: number
  destinationsDropped: number
}

const NONE = -1
/** advertised next hop of a link that went down (its slot may be reused by another neighbour) */
const GONE = -2
const FLAG_PENDING = 1
/** the feasibility distance (#fdSeqno, #fdMetric) is set */
const FLAG_FD = 2
/** we advertise a finite route (#advSeqno, #advMetric, #advHops, #advNb) */
const FLAG_ADV = 4
/** destination slots grow by half: less slack than doubling when thousands of tables live in one process */
const GROWTH = 1.5
/** slot 0 is ourselves: its binding index on every link */
const SELF = 0

interface Digest {
  count: number
  h1: number
  h2: number
}

class Neighbour {
  up = true
  /** generation of the full table being received; entries not refreshed by its end are swept */
  gen = 0
  /** what this neighbour advertised, by our destination slot; metric INFINITY = nothing */
  seqno: Uint16Array
  metric: Uint16Array
  hops: Uint16Array
  egen: Uint8Array
  /** digest of the finite entries stored from it */
  readonly received: Digest = { count: 0, h1: 0, h2: 0 }
  /** digest of our advertised entries whose next hop is it (split horizon keeps them from it) */
  readonly withheld: Digest = { count: 0, h1: 0, h2: 0 }
  /** the neighbour's own route to us, kept only for the digest and the restart rule */
  aboutSelf: { seqno: number; metric: number; hops: number; gen: number } | undefined
  confirmedAt: number
  lastFullRequest = Number.NEGATIVE_INFINITY

  constructor(
    readonly key: PeerKey,
    readonly slot: number,
    public cost: number,
    capacity: number,
    now: number,
  ) {
    const carve = carver(capacity, NEIGHBOUR_SLOT_BYTES)
    this.seqno = carve(Uint16Array)
    this.metric = carve(Uint16Array).fill(INFINITY_METRIC)
    this.hops = carve(Uint16Array)
    this.egen = carve(Uint8Array)
    this.confirmedAt = now
  }

  /** one allocation for all four arrays: thousands of tables grow many times in a simulator */
  grow(capacity: number): void {
    const carve = carver(capacity, NEIGHBOUR_SLOT_BYTES)
    this.seqno = copied(carve(Uint16Array), this.seqno)
    this.metric = copied(carve(Uint16Array), this.metric, INFINITY_METRIC)
    this.hops = copied(carve(Uint16Array), this.hops)
    this.egen = copied(carve(Uint8Array), this.egen)
  }
}

interface PendingRequest {
  seqno: number
  tries: number
  nextAt: number
}

/** bytes per slot of a neighbour's offers: seqno, metric, hops (16 bits each), generation (8 bits) */
const NEIGHBOUR_SLOT_BYTES = 7
/** bytes per slot of the table's own arrays (see the fields of RoutingTable) */
const DESTINATION_SLOT_BYTES = 35

type SlotArray = Float64Array | Int32Array | Uint16Array | Uint8Array
type SlotArrayType<T extends SlotArray> = new (buffer: ArrayBuffer, offset: number, length: number) => T

/**
 * Hands out arrays of `capacity` elements one after another from one buffer of `capacity * slotBytes` bytes. Ask for
 * wider elements first, so every array stays aligned.
 */
function carver(capacity: number, slotBytes: number): <T extends SlotArray>(type: SlotArrayType<T>) => T {
  const buffer = new ArrayBuffer(capacity * slotBytes)
  let at = 0
  return type => {
    const a = new type(buffer, at, capacity)
    at += a.byteLength
    return a
  }
}

/** `next` with `old` copied into its start and the rest set to `fill` (when given) */
function copied<T extends SlotArray>(next: T, old: T, fill?: number): T {
  ;(next as Float64Array).set(old as ArrayLike<number>)
  if (fill !== undefined) next.fill(fill, old.length)
  return next
}

function hash1(dest: PeerKey, seqno: number, metric: number, hops: number): number {
  return fmix32(dest.h1 ^ fmix32(((seqno << 16) | metric) ^ Math.imul(hops + 1, 0x9e3779b1)))
}

function hash2(dest: PeerKey, seqno: number, metric: number, hops: number): number {
  return fmix32(dest.h2 ^ fmix32(Math.imul((seqno << 16) | metric, 0xcc9e2d51) + hops))
}

function digestAdd(d: Digest, sign: 1 | -1, dest: PeerKey, seqno: number, metric: number, hops: number): void {
  d.count += sign
  d.h1 = (d.h1 ^ hash1(dest, seqno, metric, hops)) >>> 0
  d.h2 = (d.h2 ^ hash2(dest, seqno, metric, hops)) >>> 0
}

export class RoutingTable {
  readonly self: PeerKey
  readonly counters: RoutingCounters = {
    updatesSent: 0,
    entriesSent: 0,
    updatesReceived: 0,
    entriesReceived: 0,
    seqnoRequestsSent: 0,
    seqnoRequestsForwarded: 0,
    seqnoBumps: 0,
    fullTablesSent: 0,
    fullTableRequests: 0,
    digestsSent: 0,
    digestMismatches: 0,
    destinationsDropped: 0,
  }

  readonly #init: RoutingTableInit
  readonly #now: () => number
  readonly #random: () => number

  // ---- destinations, struct of arrays indexed by slot ----
  /** the interned key of each slot (one shared object per peer, process-wide) */
  readonly #keys: (PeerKey | undefined)[] = []
  readonly #index = new SlotIndex(this.#keys)
  #free: number[] = []
  #top = 1
  #capacity = 0
  #fdSeqno = new Uint16Array(0)
  #fdMetric = new Uint16Array(0)
  #selNb = new Int32Array(0)
  #selMetric = new Uint16Array(0)
  #selHops = new Uint16Array(0)
  #selSeqno = new Uint16Array(0)
  /** last change of the selected route; also when a lost route's feasibility distance starts to age (source GC) */
  #changedAt = new Float64Array(0)
  #advSeqno = new Uint16Array(0)
  #advMetric = new Uint16Array(0)
  #advHops = new Uint16Array(0)
  #advNb = new Int32Array(0)
  /** FLAG_PENDING | FLAG_FD | FLAG_ADV */
  #flags = new Uint8Array(0)
  /** binding generation of each slot, 1..65535: a reused slot gets a new one so links re-send the peer ID */
  #gen = new Uint16Array(0)
  readonly #requests = new Map<number, PendingRequest>()
  readonly #forwarded = new Map<number, { seqno: number; at: number }>()

  // ---- neighbours, by slot ----
  readonly #nbSlots = new Map<string, number>()
  readonly #nbs: (Neighbour | undefined)[] = []

  #seqno: number
  #selfPending = false
  #pending: number[] = []
  #flushAt = Number.POSITIVE_INFINITY
  #lastFlush = Number.NEGATIVE_INFINITY
  #refreshAt: number
  /** digest of everything we advertise, self included */
  readonly #advertised: Digest = { count: 0, h1: 0, h2: 0 }
  #overflow = false
  #stopped = false
  #routeCount = 0
  #lastChangeAt = Number.NEGATIVE_INFINITY

  constructor(init: RoutingTableInit) {
    this.#init = init
    this.self = init.self
    this.#now = init.now ?? Date.now
    this.#random = init.random ?? Math.random
    this.#seqno = (init.seqno ?? Math.floor(this.#random() * 0x10000)) & 0xffff
    this.#grow(64)
    this.#keys[SELF] = init.self
    this.#gen[SELF] = 1
    digestAdd(this.#advertised, 1, this.self, this.#seqno, 0, 0)
    this.#refreshAt = this.#now() + this.#jittered(init.timers.refreshIntervalMs)
  }

  /** our own sequence number */
  get seqno(): number {
    return this.#seqno
  }

  /** number of destinations with a selected route */
  get size(): number {
    return this.#routeCount
  }

  /** destinations known, with or without a route (bounded by limits.maxDestinations) */
  get destinations(): number {
    return this.#index.size
  }

  /** nothing to send and no seqno request outstanding: this node has nothing more to say until something changes */
  get idle(): boolean {
    return this.#pending.length === 0 && !this.#selfPending && this.#requests.size === 0
  }

  /** ms timestamp of the last change of any selected route (-Infinity before the first) */
  get lastChangeAt(): number {
    return this.#lastChangeAt
  }

  /**
   * bytes of per-destination state, for memory reports: the slot arrays (35 bytes a slot), each neighbour's offers
   * (7 bytes a slot), the slot index and the references to the (shared) peer keys
   */
  get stateBytes(): number {
    let bytes = this.#capacity * (DESTINATION_SLOT_BYTES + 8) + this.#index.bytes
    for (const nb of this.#nbs) if (nb !== undefined) bytes += this.#capacity * NEIGHBOUR_SLOT_BYTES
    return bytes
  }

  nextHop(dest: PeerKey): PeerKey | undefined {
    const i = this.#index.get(dest)
    if (i === undefined) return undefined
    const nb = this.#selNb[i] ?? NONE
    return nb < 0 ? undefined : this.#nbs[nb]?.key
  }

  route(dest: PeerKey): Route | undefined {
    const i = this.#index.get(dest)
    return i === undefined ? undefined : this.#routeOf(i)
  }

  routes(): Route[] {
    const out: Route[] = []
    for (let i = 1; i < this.#top; i++) {
      const r = this.#routeOf(i)
      if (r !== undefined) out.push(r)
    }
    return out
  }

  /** calls `fn` for every selected route without allocating Route objects */
  forEachRoute(fn: (dest: PeerKey, nextHop: PeerKey, metric: number, hops: number) => void): void {
    for (let i = 1; i < this.#top; i++) {
      const nb = this.#selNb[i] ?? NONE
      const key = this.#keys[i]
      const hop = nb < 0 ? undefined : this.#nbs[nb]?.key
      if (key !== undefined && hop !== undefined) fn(key, hop, this.#selMetric[i] ?? 0, this.#selHops[i] ?? 0)
    }
  }

  neighbours(): PeerKey[] {
    return this.#nbs.filter((n): n is Neighbour => n !== undefined).map(n => n.key)
  }

  hasNeighbour(peer: PeerKey): boolean {
    return this.#nbSlots.has(peer.key)
  }

  /** the digest of what we advertise to everyone (before split horizon) */
  digest(): DigestMessage {
    return { type: 'digest', count: this.#advertised.count, h1: this.#advertised.h1, h2: this.#advertised.h2 }
  }

  /** Everything known about one destination, for debugging and tests. */
  inspect(dest: PeerKey): DestinationState | undefined {
    const i = this.#index.get(dest)
    if (i === undefined) return undefined
    const flags = this.#flags[i] ?? 0
    const entries: DestinationState['entries'] = []
    for (const nb of this.#nbs) {
      if (nb === undefined || (nb.metric[i] ?? INFINITY_METRIC) >= INFINITY_METRIC) continue
      const seqno = nb.seqno[i] ?? 0
      const metric = nb.metric[i] ?? 0
      entries.push({
        neighbour: nb.key,
        seqno,
        metric,
        hops: nb.hops[i] ?? 0,
        feasible: this.#feasible(i, seqno, metric),
      })
    }
    return {
      feasibility:
        (flags & FLAG_FD) === 0 ? undefined : { seqno: this.#fdSeqno[i] ?? 0, metric: this.#fdMetric[i] ?? 0 },
      advertised:
        (flags & FLAG_ADV) === 0
          ? undefined
          : { seqno: this.#advSeqno[i] ?? 0, metric: this.#advMetric[i] ?? 0, hops: this.#advHops[i] ?? 0 },
      selected: this.nextHop(dest),
      entries,
      requesting: this.#requests.has(i),
    }
  }

  // ---- inputs --------------------------------------------------------------------------------------------------

  /** A neighbour's control channel is up; `cost` is the link metric (1 for hop count). It gets our full table. */
  linkUp(peer: PeerKey, cost: number): void {
    if (this.#stopped) return
    if (this.#nbSlots.has(peer.key)) {
      this.setCost(peer, cost)
      return
    }
    let slot = this.#nbs.indexOf(undefined)
    if (slot < 0) slot = this.#nbs.length
    const nb = new Neighbour(peer, slot, clampCost(cost), this.#capacity, this.#now())
    this.#nbs[slot] = nb
    this.#nbSlots.set(peer.key, slot)
    this.#sendFull(nb)
  }

  /** The link is gone: every route through it is withdrawn or replaced. */
  linkDown(peer: PeerKey): void {
    const slot = this.#nbSlots.get(peer.key)
    if (slot === undefined) return
    const nb = this.#nbs[slot]
    if (nb !== undefined) nb.up = false
    this.#nbSlots.delete(peer.key)
    // still in its slot while routes through it are replaced, so the change events can name it
    for (let i = 1; i < this.#top; i++) {
      // the slot may be reused by the next neighbour: forget that routes were withheld from this one
      if (this.#advNb[i] === slot) this.#advNb[i] = GONE
      if (this.#selNb[i] === slot) this.#reselect(i)
    }
    this.#nbs[slot] = undefined
  }

  /** The link metric changed (RTT measurements); routes through it are re-evaluated. */
  setCost(peer: PeerKey, cost: number): void {
    const slot = this.#nbSlots.get(peer.key)
    const nb = slot === undefined ? undefined : this.#nbs[slot]
    const c = clampCost(cost)
    if (nb === undefined || nb.cost === c) return
    nb.cost = c
    for (let i = 1; i < this.#top; i++) {
      if ((nb.metric[i] ?? INFINITY_METRIC) < INFINITY_METRIC) this.#reselect(i)
    }
  }

  /** A control message from a neighbour (ping/pong are the link's business and are ignored here). */
  receive(peer: PeerKey, message: ControlMessage): void {
    if (this.#stopped) return
    const slot = this.#nbSlots.get(peer.key)
    const nb = slot === undefined ? undefined : this.#nbs[slot]
    if (nb === undefined) return
    switch (message.type) {
      case 'update':
        this.#receiveUpdate(nb, message)
        break
      case 'route-request':
        this.counters.fullTableRequests++
        this.#sendFull(nb)
        break
      case 'seqno-request':
        this.#receiveSeqnoRequest(nb, message)
        break
      case 'digest':
        this.#receiveDigest(nb, message)
        break
      default:
        break
    }
  }

  /** Runs whatever is due: triggered updates, digests, seqno request retries, garbage collection. */
  tick(): void {
    if (this.#stopped) return
    const now = this.#now()
    if (now >= this.#flushAt) this.flush()
    if (now >= this.#refreshAt) {
      this.#refreshAt = now + this.#jittered(this.#init.timers.refreshIntervalMs)
      this.#sendDigests()
      this.#collect(now)
    }
    for (const [i, req] of this.#requests) {
      if (now >= req.nextAt) this.#retryRequest(i, req)
    }
  }

  /** ms timestamp at which `tick()` has work to do. */
  nextDeadline(): number {
    let at = Math.min(this.#flushAt, this.#refreshAt)
    for (const req of this.#requests.values()) if (req.nextAt < at) at = req.nextAt
    return at
  }

  /** Sends pending triggered updates now instead of at the end of the batching window. */
  flush(): void {
    this.#flushAt = Number.POSITIVE_INFINITY
    this.#lastFlush = this.#now()
    const entries: RouteUpdate[] = []
    /** per entry: the neighbour slot it is withheld from (split horizon), or NONE */
    const withheld: number[] = []
    if (this.#selfPending) {
      this.#selfPending = false
      entries.push(this.#selfEntry())
      withheld.push(NONE)
    }
    const pending = this.#pending
    this.#pending = []
    for (const i of pending) {
      this.#flags[i] = (this.#flags[i] ?? 0) & ~FLAG_PENDING
      const update = this.#readvertise(i)
      if (update === undefined) continue
      entries.push(update)
      withheld.push(update.metric < INFINITY_METRIC ? (this.#advNb[i] ?? NONE) : NONE)
    }
    if (entries.length === 0) return
    for (const nb of this.#nbs) {
      if (nb === undefined) continue
      let mine = entries
      if (withheld.includes(nb.slot)) {
        // split horizon: the next hop of a route gets a retraction, never the route through itself
        mine = entries.map((e, k) => (withheld[k] === nb.slot ? { ...e, metric: INFINITY_METRIC, hops: 0 } : e))
      }
      this.#sendEntries(nb, mine, false, false)
    }
  }

  /**
   * Graceful leave: retracts every route we advertise and our own (with a new seqno), to every neighbour, at once.
   * The table is inert afterwards.
   */
  stop(): void {
    if (this.#stopped) return
    this.#seqno = seqnoAdd(this.#seqno, 1)
    const entries: RouteUpdate[] = [{ ...this.#selfEntry(), metric: INFINITY_METRIC }]
    for (let i = 1; i < this.#top; i++) {
      const key = this.#keys[i]
      if (this.#advertising(i) && key !== undefined) {
        const seqno = this.#advSeqno[i] ?? 0
        entries.push({ dest: key, index: i, gen: this.#gen[i] ?? 0, seqno, metric: INFINITY_METRIC, hops: 0 })
      }
    }
    for (const nb of this.#nbs) if (nb !== undefined) this.#sendEntries(nb, entries, false, false)
    this.#stopped = true
    this.#pending = []
    this.#flushAt = Number.POSITIVE_INFINITY
    this.#refreshAt = Number.POSITIVE_INFINITY
    this.#requests.clear()
  }

  // ---- slots ---------------------------------------------------------------------------------------------------

  #grow(capacity: number): void {
    this.#capacity = capacity
    // one allocation for every array, widest elements first (alignment)
    const carve = carver(capacity, DESTINATION_SLOT_BYTES)
    this.#changedAt = copied(carve(Float64Array), this.#changedAt)
    this.#selNb = copied(carve(Int32Array), this.#selNb, NONE)
    this.#advNb = copied(carve(Int32Array), this.#advNb, NONE)
    this.#fdSeqno = copied(carve(Uint16Array), this.#fdSeqno)
    this.#fdMetric = copied(carve(Uint16Array), this.#fdMetric)
    this.#selMetric = copied(carve(Uint16Array), this.#selMetric)
    this.#selHops = copied(carve(Uint16Array), this.#selHops)
    this.#selSeqno = copied(carve(Uint16Array), this.#selSeqno)
    this.#advSeqno = copied(carve(Uint16Array), this.#advSeqno)
    this.#advMetric = copied(carve(Uint16Array), this.#advMetric)
    this.#advHops = copied(carve(Uint16Array), this.#advHops)
    this.#gen = copied(carve(Uint16Array), this.#gen)
    this.#flags = copied(carve(Uint8Array), this.#flags)
    for (const nb of this.#nbs) nb?.grow(capacity)
  }

  #alloc(key: PeerKey): number {
    let i = this.#free.pop()
    if (i === undefined) {
      i = this.#top++
      if (i >= this.#capacity) this.#grow(Math.ceil(this.#capacity * GROWTH))
    }
    this.#keys[i] = key
    this.#index.set(key, i)
    this.#selNb[i] = NONE
    this.#advNb[i] = NONE
    this.#flags[i] = 0
    this.#changedAt[i] = this.#now()
    this.#gen[i] = ((this.#gen[i] ?? 0) % 0xffff) + 1
    return i
  }

  #release(i: number): void {
    const key = this.#keys[i]
    // the index reads the key while it removes it
    if (key !== undefined) this.#index.delete(key)
    this.#keys[i] = undefined
    this.#requests.delete(i)
    this.#forwarded.delete(i)
    this.#free.push(i)
  }

  #advertising(i: number): boolean {
    return ((this.#flags[i] ?? 0) & FLAG_ADV) !== 0
  }

  #selfEntry(): RouteUpdate {
    return { dest: this.self, index: SELF, gen: 1, seqno: this.#seqno, metric: 0, hops: 0 }
  }

  // ---- updates -------------------------------------------------------------------------------------------------

  #receiveUpdate(nb: Neighbour, msg: UpdateMessage): void {
    this.counters.updatesReceived++
    this.counters.entriesReceived += msg.entries.length
    if (msg.fullStart) nb.gen = (nb.gen + 1) & 0xff
    nb.confirmedAt = this.#now()
    for (const u of msg.entries) this.#applyEntry(nb, u)
    if (msg.fullEnd) this.#sweep(nb)
  }

  #applyEntry(nb: Neighbour, u: RouteUpdate): void {
    if (u.dest.key === this.self.key) {
      this.#applyAboutSelf(nb, u)
      return
    }
    let i = this.#index.get(u.dest)
    if (u.metric >= INFINITY_METRIC) {
      if (i === undefined || (nb.metric[i] ?? INFINITY_METRIC) >= INFINITY_METRIC) return
      digestAdd(nb.received, -1, u.dest, nb.seqno[i] ?? 0, nb.metric[i] ?? 0, nb.hops[i] ?? 0)
      nb.metric[i] = INFINITY_METRIC
      this.#entryChanged(i, nb)
      return
    }
    if (i === undefined) {
      if (this.#index.size >= this.#init.limits.maxDestinations) {
        this.counters.destinationsDropped++
        if (!this.#overflow) {
          this.#init.logger?.warn(
            { limit: this.#init.limits.maxDestinations, from: nb.key.text },
            'routing table full (limits.maxDestinations): further destinations are ignored',
          )
        }
        this.#overflow = true
        return
      }
      i = this.#alloc(u.dest)
    }
    if ((nb.metric[i] ?? INFINITY_METRIC) < INFINITY_METRIC) {
      digestAdd(nb.received, -1, u.dest, nb.seqno[i] ?? 0, nb.metric[i] ?? 0, nb.hops[i] ?? 0)
    }
    const hops = Math.min(u.hops, MAX_METRIC)
    nb.seqno[i] = u.seqno
    nb.metric[i] = u.metric
    nb.hops[i] = hops
    nb.egen[i] = nb.gen
    digestAdd(nb.received, 1, u.dest, u.seqno, u.metric, hops)
    this.#entryChanged(i, nb)
  }

  /** Re-evaluates slot `i` after `nb`'s entry changed, skipping the full scan when the outcome cannot change. */
  #entryChanged(i: number, nb: Neighbour): void {
    const sel = this.#selNb[i] ?? NONE
    if (sel === nb.slot) {
      this.#reselect(i)
      return
    }
    const metric = nb.metric[i] ?? INFINITY_METRIC
    if (metric >= INFINITY_METRIC) {
      if (this.#requests.has(i)) this.#updateRequest(i, this.#wantsSeqno(i))
      return
    }
    const total = metric + nb.cost
    const selected = sel < 0 ? INFINITY_METRIC : (this.#selMetric[i] ?? INFINITY_METRIC)
    if (total >= selected || total > MAX_METRIC) return
    if (this.#feasible(i, nb.seqno[i] ?? 0, metric)) this.#reselect(i)
    else this.#requestSeqno(i)
  }

  #applyAboutSelf(nb: Neighbour, u: RouteUpdate): void {
    const old = nb.aboutSelf
    if (old !== undefined) digestAdd(nb.received, -1, this.self, old.seqno, old.metric, old.hops)
    if (u.metric >= INFINITY_METRIC) {
      nb.aboutSelf = undefined
      return
    }
    nb.aboutSelf = { seqno: u.seqno, metric: u.metric, hops: u.hops, gen: nb.gen }
    digestAdd(nb.received, 1, this.self, u.seqno, u.metric, u.hops)
    // Someone remembers a newer seqno of ours than we have: we restarted. Jump past it so our routes are feasible.
    if (seqnoNewer(u.seqno, this.#seqno)) this.#bumpSeqno(seqnoAdd(u.seqno, 1))
  }

  /** End of a full table from `nb`: whatever it did not repeat is gone. */
  #sweep(nb: Neighbour): void {
    if (nb.aboutSelf !== undefined && nb.aboutSelf.gen !== nb.gen) {
      const old = nb.aboutSelf
      digestAdd(nb.received, -1, this.self, old.seqno, old.metric, old.hops)
      nb.aboutSelf = undefined
    }
    for (let i = 1; i < this.#top; i++) {
      if ((nb.metric[i] ?? INFINITY_METRIC) >= INFINITY_METRIC || nb.egen[i] === nb.gen) continue
      const key = this.#keys[i]
      if (key !== undefined) digestAdd(nb.received, -1, key, nb.seqno[i] ?? 0, nb.metric[i] ?? 0, nb.hops[i] ?? 0)
      nb.metric[i] = INFINITY_METRIC
      this.#entryChanged(i, nb)
    }
  }

  #feasible(i: number, seqno: number, metric: number): boolean {
    if (((this.#flags[i] ?? 0) & FLAG_FD) === 0) return true
    const fd = this.#fdSeqno[i] ?? 0
    if (seqnoNewer(seqno, fd)) return true
    return seqno === fd && metric < (this.#fdMetric[i] ?? 0)
  }

  /**
   * Picks the best feasible entry; reports and schedules an update when the outcome changed. When an unfeasible
   * entry is better than what is selected (or nothing is), asks for a new seqno: the destination's next update is
   * then feasible everywhere, so routes re-converge to the shortest instead of staying on a detour.
   */
  #reselect(i: number): void {
    const current = this.#selNb[i] ?? NONE
    let best: Neighbour | undefined
    let bestMetric = INFINITY_METRIC
    let bestUnfeasible = INFINITY_METRIC
    for (const nb of this.#nbs) {
      if (nb === undefined || !nb.up) continue
      const adv = nb.metric[i] ?? INFINITY_METRIC
      if (adv >= INFINITY_METRIC) continue
      const m = adv + nb.cost
      if (m > MAX_METRIC) continue
      if (!this.#feasible(i, nb.seqno[i] ?? 0, adv)) {
        if (m < bestUnfeasible) bestUnfeasible = m
        continue
      }
      if (best === undefined || m < bestMetric) {
        best = nb
        bestMetric = m
      } else if (m === bestMetric && best.slot !== current) {
        // equal metric: keep the current route (no flapping), else fewer hops, else a stable order
        const h = nb.hops[i] ?? 0
        const bh = best.hops[i] ?? 0
        if (nb.slot === current || h < bh || (h === bh && nb.key.key < best.key.key)) best = nb
      }
    }
    const wanted = bestUnfeasible < bestMetric
    const hops = best === undefined ? 0 : Math.min((best.hops[i] ?? 0) + 1, MAX_METRIC)
    const seqno = best === undefined ? 0 : (best.seqno[i] ?? 0)
    if (best === undefined ? current < 0 : current === best.slot && this.#selMetric[i] === bestMetric) {
      if (best !== undefined && this.#selHops[i] === hops) {
        if (this.#selSeqno[i] !== seqno) {
          // Only the seqno moved. Nobody needs it unless they asked (we forwarded their request): flooding every
          // bumped seqno would make one cut cost O(routes through the link × nodes).
          this.#selSeqno[i] = seqno
          const fwd = this.#forwarded.get(i)
          if (fwd !== undefined && seqnoAtLeast(seqno, fwd.seqno)) this.#markPending(i, true)
        }
        this.#updateRequest(i, wanted)
        return
      }
      if (best === undefined) {
        this.#updateRequest(i, wanted)
        return
      }
    }
    const report = this.#init.onRouteChange !== undefined && this.#init.routeChangesWanted?.() !== false
    const previous = report ? this.#routeOf(i) : undefined
    // bad news (lost or worse) must travel fast; good news can wait to be batched
    const worse = best === undefined || current < 0 ? best === undefined : bestMetric > (this.#selMetric[i] ?? 0)
    this.#changedAt[i] = this.#now()
    this.#lastChangeAt = this.#changedAt[i] ?? this.#lastChangeAt
    if (best === undefined) {
      this.#selNb[i] = NONE
      this.#routeCount--
    } else {
      if (current < 0) this.#routeCount++
      this.#selNb[i] = best.slot
      this.#selMetric[i] = bestMetric
      this.#selHops[i] = hops
      this.#selSeqno[i] = seqno
    }
    this.#updateRequest(i, wanted)
    this.#markPending(i, worse)
    const key = this.#keys[i]
    if (report && key !== undefined) this.#init.onRouteChange?.(key, this.#routeOf(i), previous)
  }

  #markPending(i: number, urgent: boolean): void {
    const flags = this.#flags[i] ?? 0
    if ((flags & FLAG_PENDING) === 0) {
      this.#flags[i] = flags | FLAG_PENDING
      this.#pending.push(i)
    }
    this.#scheduleFlush(urgent)
  }

  /**
   * Urgent changes (a route lost or worse, a seqno someone is waiting for) go out at once after a quiet spell, so
   * a retraction crosses the network at link speed; further ones within `triggerDelayMs` of a flush leave together.
   * Other changes (new and better routes) wait `triggerDelayMs` so a burst of them leaves in one update.
   */
  #scheduleFlush(urgent: boolean): void {
    const delay = this.#init.timers.triggerDelayMs
    const at = urgent ? Math.max(this.#now(), this.#lastFlush + delay) : this.#now() + delay
    if (at < this.#flushAt) this.#flushAt = at
  }

  /** What to announce for slot `i` now; updates what we advertise, the feasibility distance and our digests. */
  #readvertise(i: number): RouteUpdate | undefined {
    const key = this.#keys[i]
    if (key === undefined) return undefined
    const gen = this.#gen[i] ?? 0
    const flags = this.#flags[i] ?? 0
    const advertising = (flags & FLAG_ADV) !== 0
    const advSeqno = this.#advSeqno[i] ?? 0
    const sel = this.#selNb[i] ?? NONE
    if (sel < 0) {
      if (!advertising) return undefined
      this.#advertise(i, -1, key)
      this.#flags[i] = flags & ~FLAG_ADV
      this.#advNb[i] = NONE
      return { dest: key, index: i, gen, seqno: advSeqno, metric: INFINITY_METRIC, hops: 0 }
    }
    const seqno = this.#selSeqno[i] ?? 0
    const metric = this.#selMetric[i] ?? 0
    const hops = this.#selHops[i] ?? 0
    if (
      advertising &&
      advSeqno === seqno &&
      this.#advMetric[i] === metric &&
      this.#advHops[i] === hops &&
      this.#advNb[i] === sel
    ) {
      return undefined
    }
    if (advertising) this.#advertise(i, -1, key)
    this.#advSeqno[i] = seqno
    this.#advMetric[i] = metric
    this.#advHops[i] = hops
    this.#advNb[i] = sel
    this.#advertise(i, 1, key)
    // RFC 8966 §3.7.3: the feasibility distance follows what we announce, never what we merely select.
    const fd = this.#fdSeqno[i] ?? 0
    if ((flags & FLAG_FD) === 0 || seqnoNewer(seqno, fd) || (seqno === fd && metric < (this.#fdMetric[i] ?? 0))) {
      this.#fdSeqno[i] = seqno
      this.#fdMetric[i] = metric
    }
    this.#flags[i] = flags | FLAG_ADV | FLAG_FD
    return { dest: key, index: i, gen, seqno, metric, hops }
  }

  /** adds (1) or removes (-1) slot `i`'s advertised entry from our digests */
  #advertise(i: number, sign: 1 | -1, key: PeerKey): void {
    const seqno = this.#advSeqno[i] ?? 0
    const metric = this.#advMetric[i] ?? 0
    const hops = this.#advHops[i] ?? 0
    digestAdd(this.#advertised, sign, key, seqno, metric, hops)
    const nbSlot = this.#advNb[i] ?? NONE
    const nb = nbSlot >= 0 ? this.#nbs[nbSlot] : undefined
    if (nb !== undefined) digestAdd(nb.withheld, sign, key, seqno, metric, hops)
  }

  #sendEntries(nb: Neighbour, entries: RouteUpdate[], fullStart: boolean, fullEnd: boolean): void {
    const max = this.#init.limits.maxEntriesPerUpdate
    if (entries.length === 0) {
      if (fullStart || fullEnd) this.#emitUpdate(nb, { type: 'update', fullStart, fullEnd, entries })
      return
    }
    for (let at = 0; at < entries.length; at += max) {
      const chunk = entries.length <= max ? entries : entries.slice(at, at + max)
      this.#emitUpdate(nb, {
        type: 'update',
        fullStart: fullStart && at === 0,
        fullEnd: fullEnd && at + max >= entries.length,
        entries: chunk,
      })
    }
  }

  #emitUpdate(nb: Neighbour, msg: UpdateMessage): void {
    this.counters.updatesSent++
    this.counters.entriesSent += msg.entries.length
    this.#init.send(nb.key, msg)
  }

  #sendFull(nb: Neighbour): void {
    this.counters.fullTablesSent++
    const entries: RouteUpdate[] = [this.#selfEntry()]
    for (let i = 1; i < this.#top; i++) {
      const key = this.#keys[i]
      if (!this.#advertising(i) || key === undefined || this.#advNb[i] === nb.slot) continue
      entries.push({
        dest: key,
        index: i,
        gen: this.#gen[i] ?? 0,
        seqno: this.#advSeqno[i] ?? 0,
        metric: this.#advMetric[i] ?? 0,
        hops: this.#advHops[i] ?? 0,
      })
    }
    this.#sendEntries(nb, entries, true, true)
  }

  // ---- seqno requests ------------------------------------------------------------------------------------------

  #updateRequest(i: number, wanted: boolean): void {
    if (wanted) this.#requestSeqno(i)
    else this.#requests.delete(i)
  }

  /** An unfeasible entry beats the selected route (or there is none): a new seqno from the destination is needed. */
  #wantsSeqno(i: number): boolean {
    const sel = this.#selNb[i] ?? NONE
    const selected = sel < 0 ? INFINITY_METRIC : (this.#selMetric[i] ?? INFINITY_METRIC)
    for (const nb of this.#nbs) {
      if (nb === undefined || !nb.up) continue
      const adv = nb.metric[i] ?? INFINITY_METRIC
      if (adv >= INFINITY_METRIC) continue
      const m = adv + nb.cost
      if (m < selected && m <= MAX_METRIC && !this.#feasible(i, nb.seqno[i] ?? 0, adv)) return true
    }
    return false
  }

  /**
   * Starving (no route at all): ask at once. Merely improvable (an unfeasible route beats the selected one): ask
   * after `seqnoRequestTimeoutMs`, by when the starving nodes upstream have usually had their answer, whose new
   * seqno resolves most of these for free. Either way one request goes to the neighbour with the best unfeasible
   * route, not to all of them, and retries are jittered: after a failure hundreds of nodes want new seqnos at
   * once, and synchronised retries would feed on themselves.
   */
  #requestSeqno(i: number): void {
    const starving = (this.#selNb[i] ?? NONE) < 0
    const existing = this.#requests.get(i)
    if (existing !== undefined) {
      // a deferred improvement request becomes urgent when the route is lost altogether
      if (starving && existing.tries === 0) this.#retryRequest(i, existing)
      return
    }
    const req = { seqno: 0, tries: 0, nextAt: this.#now() + (starving ? 0 : this.#requestDelay(1)) }
    this.#requests.set(i, req)
    if (starving) this.#retryRequest(i, req)
  }

  #requestDelay(tries: number): number {
    return this.#init.timers.seqnoRequestTimeoutMs * 2 ** (tries - 1) * (0.75 + this.#random() * 0.5)
  }

  #retryRequest(i: number, req: PendingRequest): void {
    const key = this.#keys[i]
    if (key === undefined || !this.#wantsSeqno(i) || req.tries > this.#init.timers.seqnoRequestRetries) {
      this.#requests.delete(i)
      return
    }
    req.tries++
    req.nextAt = this.#now() + this.#requestDelay(req.tries)
    // asks for one past our feasibility distance: any route carrying it is feasible
    const fd = ((this.#flags[i] ?? 0) & FLAG_FD) === 0 ? 0 : (this.#fdSeqno[i] ?? 0)
    req.seqno = seqnoAdd(fd, 1)
    const sel = this.#selNb[i] ?? NONE
    let best: Neighbour | undefined
    let bestMetric = sel < 0 ? INFINITY_METRIC : (this.#selMetric[i] ?? INFINITY_METRIC)
    for (const nb of this.#nbs) {
      if (nb === undefined || !nb.up) continue
      const adv = nb.metric[i] ?? INFINITY_METRIC
      if (adv >= INFINITY_METRIC || adv + nb.cost >= bestMetric || this.#feasible(i, nb.seqno[i] ?? 0, adv)) continue
      best = nb
      bestMetric = adv + nb.cost
    }
    if (best === undefined) return
    this.counters.seqnoRequestsSent++
    this.#init.send(best.key, {
      type: 'seqno-request',
      dest: key,
      seqno: req.seqno,
      hopCount: this.#init.limits.maxSeqnoRequestHops,
    })
  }

  #receiveSeqnoRequest(nb: Neighbour, msg: SeqnoRequestMessage): void {
    if (msg.dest.key === this.self.key) {
      if (seqnoNewer(msg.seqno, this.#seqno)) {
        this.#bumpSeqno(msg.seqno)
      } else {
        this.#init.send(nb.key, { type: 'update', fullStart: false, fullEnd: false, entries: [this.#selfEntry()] })
      }
      return
    }
    const i = this.#index.get(msg.dest)
    if (i === undefined) return
    const sel = this.#selNb[i] ?? NONE
    const adv = this.#advSeqno[i] ?? 0
    const pending = ((this.#flags[i] ?? 0) & FLAG_PENDING) !== 0
    if (this.#advertising(i) && seqnoAtLeast(adv, msg.seqno) && !pending) {
      if (this.#advNb[i] === nb.slot) return // it is our next hop: a route through itself is no use to it
      this.#init.send(nb.key, {
        type: 'update',
        fullStart: false,
        fullEnd: false,
        entries: [
          {
            dest: msg.dest,
            index: i,
            gen: this.#gen[i] ?? 0,
            seqno: adv,
            metric: this.#advMetric[i] ?? 0,
            hops: this.#advHops[i] ?? 0,
          },
        ],
      })
      return
    }
    if (sel >= 0 && seqnoAtLeast(this.#selSeqno[i] ?? 0, msg.seqno)) {
      this.#markPending(i, true)
      return
    }
    if (msg.hopCount <= 1 || sel < 0 || sel === nb.slot) return
    const now = this.#now()
    const fwd = this.#forwarded.get(i)
    if (
      fwd !== undefined &&
      seqnoAtLeast(fwd.seqno, msg.seqno) &&
      now - fwd.at < this.#init.timers.seqnoRequestTimeoutMs
    )
      return
    this.#forwarded.set(i, { seqno: msg.seqno, at: now })
    const next = this.#nbs[sel]
    if (next === undefined) return
    this.counters.seqnoRequestsForwarded++
    this.#init.send(next.key, { ...msg, hopCount: msg.hopCount - 1 })
  }

  #bumpSeqno(to: number): void {
    this.counters.seqnoBumps++
    digestAdd(this.#advertised, -1, this.self, this.#seqno, 0, 0)
    this.#seqno = to & 0xffff
    digestAdd(this.#advertised, 1, this.self, this.#seqno, 0, 0)
    this.#selfPending = true
    this.#scheduleFlush(true)
  }

  // ---- digests -------------------------------------------------------------------------------------------------

  #sendDigests(): void {
    // the digest covers what has been sent: send what is pending first
    if (this.#pending.length > 0 || this.#selfPending) this.flush()
    const all = this.#advertised
    for (const nb of this.#nbs) {
      if (nb === undefined) continue
      this.counters.digestsSent++
      this.#init.send(nb.key, {
        type: 'digest',
        count: all.count - nb.withheld.count,
        h1: (all.h1 ^ nb.withheld.h1) >>> 0,
        h2: (all.h2 ^ nb.withheld.h2) >>> 0,
      })
    }
  }

  #receiveDigest(nb: Neighbour, msg: DigestMessage): void {
    if (this.#overflow) return
    const now = this.#now()
    const mine = nb.received
    if (msg.count === mine.count && msg.h1 === mine.h1 && msg.h2 === mine.h2) {
      nb.confirmedAt = now
      return
    }
    this.counters.digestMismatches++
    if (now - nb.lastFullRequest < this.#init.timers.refreshIntervalMs / 2) return
    nb.lastFullRequest = now
    this.#init.logger?.debug(
      { peer: nb.key.text, theirs: msg.count, ours: mine.count },
      'routing digest mismatch: asking for the full table',
    )
    this.#init.send(nb.key, { type: 'route-request' })
  }

  // ---- housekeeping --------------------------------------------------------------------------------------------

  /** Forgets destinations that have had no route and no entry for `sourceGcMs`, and stale request records. */
  #collect(now: number): void {
    const gc = this.#init.timers.sourceGcMs
    for (let i = 1; i < this.#top; i++) {
      if (this.#keys[i] === undefined || (this.#selNb[i] ?? NONE) >= 0 || this.#advertising(i)) continue
      if (((this.#flags[i] ?? 0) & FLAG_PENDING) !== 0 || this.#requests.has(i)) continue
      // a lost route's changedAt is when it was lost, after anything advertised for it: the feasibility distance
      // is kept for sourceGcMs from then
      if (now - (this.#changedAt[i] ?? 0) < gc) continue
      if (this.#nbs.some(nb => nb !== undefined && (nb.metric[i] ?? INFINITY_METRIC) < INFINITY_METRIC)) continue
      this.#release(i)
    }
    for (const [i, fwd] of this.#forwarded) {
      if (now - fwd.at >= this.#init.timers.seqnoRequestTimeoutMs) this.#forwarded.delete(i)
    }
    if (this.#overflow && this.#index.size < this.#init.limits.maxDestinations) this.#overflow = false
  }

  #routeOf(i: number): Route | undefined {
    const sel = this.#selNb[i] ?? NONE
    const nb = sel < 0 ? undefined : this.#nbs[sel]
    const key = this.#keys[i]
    if (nb === undefined || key === undefined) return undefined
    return {
      destination: key,
      nextHop: nb.key,
      metric: this.#selMetric[i] ?? 0,
      hops: this.#selHops[i] ?? 0,
      seqno: this.#selSeqno[i] ?? 0,
      changedAt: this.#changedAt[i] ?? 0,
      confirmedAt: Math.max(this.#changedAt[i] ?? 0, nb.confirmedAt),
    }
  }

  #jittered(ms: number): number {
    return ms * (0.75 + this.#random() * 0.5)
  }
}

function clampCost(cost: number): number {
  if (!Number.isFinite(cost) || cost < 1) return 1
  return Math.min(Math.round(cost), MAX_METRIC)
}
