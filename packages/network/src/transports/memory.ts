/**
 * In-process transport: connections between networks of one process, through a hub, with the same noise + yamux
 * upgrade as TCP. Links can be given latency and a bandwidth cap, be black-holed (bytes silently vanish, as with a
 * pulled cable) or cut (both ends see a reset), which is what router simulations with thousands of nodes need.
 *
 * Addresses: `/memory/NAME` (or `memory://NAME`).
 *
 * @example
 * ```ts
 * const hub = createMemoryHub()
 * const a = createNetwork({ privateKey: ka, transports: [memory({ hub, latencyMs: 5 })] })
 * const b = createNetwork({ privateKey: kb, transports: [memory({ hub })] })
 * await a.listen('/memory/a')
 * const conn = await b.dial('/memory/a')
 * hub.cut(a.peerId, b.peerId)   // conn fails on both sides
 * ```
 */
import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { Memory } from '@multiformats/multiaddr-matcher'
import { DialError, ListenError, messageOf } from '../errors.js'
import type {
  Connection,
  DialOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportComponents,
  TransportFactory,
} from '../interface.js'
import { logThrottled } from '../logger.js'
import { BaseIO } from '../raw-io.js'
import type { StackUpgrader } from '../upgrader.js'
import { isStackUpgrader } from './shared.js'

/** Bytes in flight on one direction of a link before the writer is told to wait. */
const MEMORY_HIGH_WATER = 1024 * 1024

export interface MemoryLinkOptions {
  /** one-way delay added to every chunk, ms */
  latencyMs?: number
  /** cap per direction, bytes per second; 0 or absent means unlimited */
  bandwidthBytesPerSec?: number
}

export interface MemoryInit extends MemoryLinkOptions {
  /** the hub to listen and dial on; default: one shared per process */
  hub?: MemoryHub
}

/** One connection's pair of pipes, as seen by tests and simulators. */
export interface MemoryLink {
  /** peer ID of the dialing network */
  readonly dialer: string
  /** peer ID of the listening network */
  readonly listener: string
  /** the memory address dialed */
  readonly address: string
  latencyMs: number
  bandwidthBytesPerSec: number
  /** while true, bytes in both directions vanish without a trace */
  blackhole: boolean
  /** both ends see the connection reset */
  cut(): void
  readonly active: boolean
}

interface HubListener {
  peer: string
  accept(end: MemoryEnd, link: LinkImpl): void
}

/** Where memory listeners live; create one per test for isolation, or share the default. */
export interface MemoryHub {
  /** live links, optionally only those touching `peer` */
  links(peer?: PeerId | string): MemoryLink[]
  /** cuts every live link between two peers (either direction); returns how many */
  cut(a: PeerId | string, b: PeerId | string): number
  /** sets blackhole on every live link between two peers; returns how many */
  blackhole(a: PeerId | string, b: PeerId | string, on: boolean): number
  /** @internal */
  readonly listeners: Map<string, HubListener>
  /** @internal */
  readonly active: Set<LinkImpl>
}

/**
 * A fresh hub: memory networks only reach each other through the same hub.
 *
 * @example
 * ```ts
 * const hub = createMemoryHub()
 * const transports = [memory({ hub })]
 * ```
 */
export function createMemoryHub(): MemoryHub {
  const listeners = new Map<string, HubListener>()
  const active = new Set<LinkImpl>()
  const between = (a: string, b: string): LinkImpl[] =>
    [...active].filter(l => (l.dialer === a && l.listener === b) || (l.dialer === b && l.listener === a))
  return {
    listeners,
    active,
    links(peer) {
      const id = peer?.toString()
      return [...active].filter(l => id === undefined || l.dialer === id || l.listener === id)
    },
    cut(a, b) {
      const links = between(a.toString(), b.toString())
      for (const link of links) link.cut()
      return links.length
    },
    blackhole(a, b, on) {
      const links = between(a.toString(), b.toString())
      for (const link of links) link.blackhole = on
      return links.length
    },
  }
}

const defaultHub = createMemoryHub()

/** The process-wide hub used when none is given. */
export function defaultMemoryHub(): MemoryHub {
  return defaultHub
}

/**
 * The memory transport.
 *
 * @example
 * ```ts
 * createNetwork({ privateKey, transports: [memory({ latencyMs: 2, bandwidthBytesPerSec: 10e6 })] })
 * ```
 */
export function memory(init: MemoryInit = {}): TransportFactory {
  return components => new MemoryTransport(components, init)
}

let ephemeral = 0

class MemoryTransport implements Transport {
  readonly name = 'memory'
  readonly #components: TransportComponents
  readonly #upgrader: StackUpgrader
  readonly #hub: MemoryHub
  readonly #init: MemoryInit

  constructor(components: TransportComponents, init: MemoryInit) {
    if (!isStackUpgrader(components.upgrader)) {
      throw new TypeError('memory() needs the upgrader created by createNetwork()/createUpgrader()')
    }
    this.#components = components
    this.#upgrader = components.upgrader
    this.#hub = init.hub ?? defaultHub
    this.#init = init
  }

  handles(addr: Multiaddr): boolean {
    return Memory.exactMatch(addr)
  }

  async dial(addr: Multiaddr, options: DialOptions): Promise<Connection> {
    options.signal?.throwIfAborted()
    const name = memoryName(addr)
    const target = this.#hub.listeners.get(name)
    if (target === undefined) throw new DialError(addr.toString(), 'connection refused (nothing listens there)')
    const ticket = this.#components.gate.admit('outbound', addr)
    const local = multiaddr(`/memory/${name}~${(ephemeral++).toString(36)}`)
    const link = new LinkImpl(this.#hub, this.#components.peerId.toString(), target.peer, name, this.#init)
    const outEnd = new MemoryEnd(link, addr)
    const inEnd = new MemoryEnd(link, local)
    link.attach(outEnd, inEnd)
    target.accept(inEnd, link)
    try {
      return await this.#upgrader.upgradeIO(outEnd, 'outbound', { ...options, transport: this.name, ticket })
    } catch (err) {
      link.cut()
      throw err
    }
  }

  async listen(addr: Multiaddr, options: ListenOptions): Promise<Listener> {
    const name = memoryName(addr)
    if (this.#hub.listeners.has(name)) throw new ListenError(addr.toString(), 'address already in use')
    const accepted = new Set<LinkImpl>()
    const components = this.#components
    const upgrader = this.#upgrader
    this.#hub.listeners.set(name, {
      peer: components.peerId.toString(),
      accept: (end, link) => {
        let ticket: ReturnType<TransportComponents['gate']['admit']>
        try {
          ticket = components.gate.admit('inbound', end.remoteAddr)
        } catch (err) {
          logThrottled(
            components.logger,
            'warn',
            { remote: end.remoteAddr.toString(), reason: messageOf(err) },
            'inbound connection refused',
          )
          options.onConnectionError?.(err as Error, end.remoteAddr)
          link.cut()
          return
        }
        accepted.add(link)
        link.onEnd(() => accepted.delete(link))
        upgrader
          .upgradeIO(end, 'inbound', {
            transport: this.name,
            ticket,
            onStream: options.onStream,
            onClose: options.onClose,
          })
          .then(
            conn => options.onConnection(conn),
            (err: Error) => {
              logThrottled(
                components.logger,
                'info',
                { remote: end.remoteAddr.toString(), reason: err.message },
                'inbound connection failed',
              )
              options.onConnectionError?.(err, end.remoteAddr)
            },
          )
      },
    })
    const hub = this.#hub
    return {
      addrs: [multiaddr(`/memory/${name}`)],
      async close() {
        if (hub.listeners.get(name)?.peer === components.peerId.toString()) hub.listeners.delete(name)
        for (const link of accepted) link.cut()
      },
    }
  }
}

function memoryName(addr: Multiaddr): string {
  const value = addr.getComponents().find(c => c.name === 'memory')?.value
  if (value === undefined || value === '') throw new DialError(addr.toString(), 'not a /memory/NAME address')
  return value
}

interface Item {
  data?: Uint8Array
  end?: true
  at: number
}

/** One direction of a link: a timed queue from `from` to `to`. */
class Pipe {
  readonly #queue: Item[] = []
  #inflight = 0
  #full = false
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  #nextFree = 0

  constructor(
    readonly link: LinkImpl,
    readonly from: MemoryEnd,
    readonly to: MemoryEnd,
  ) {}

  write(pieces: Uint8Array[]): boolean {
    if (this.link.blackhole || !this.link.active) return true
    // no copy: the session hands over fresh buffers (cipher output) and never touches them again
    for (const data of pieces) this.#enqueue({ data, at: this.#arrival(data.byteLength) })
    // once full, the writer waits for drained(): a small write meanwhile must not clear the flag, or that drain
    // never comes (the writer was told to wait, the pipe forgot it)
    if (this.#inflight >= MEMORY_HIGH_WATER) this.#full = true
    return !this.#full
  }

  end(): void {
    this.#enqueue({ end: true, at: this.#arrival(0) })
  }

  #arrival(bytes: number): number {
    const now = performance.now()
    const bw = this.link.bandwidthBytesPerSec
    const start = Math.max(now, this.#nextFree)
    this.#nextFree = bw > 0 ? start + (bytes / bw) * 1000 : start
    return this.#nextFree + this.link.latencyMs
  }

  #enqueue(item: Item): void {
    this.#queue.push(item)
    this.#inflight += item.data?.byteLength ?? 0
    this.schedule()
  }

  schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0 || this.to.readPaused) return
    const delay = (this.#queue[0]?.at ?? 0) - performance.now()
    this.#timer = delay > 1 ? setTimeout(() => this.#flush(), delay) : setImmediate(() => this.#flush())
  }

  #flush(): void {
    this.#timer = undefined
    const now = performance.now() + 1
    while (this.#queue.length > 0 && !this.to.readPaused && this.link.active) {
      const item = this.#queue[0]
      if (item === undefined || item.at > now) break
      this.#queue.shift()
      this.#inflight -= item.data?.byteLength ?? 0
      if (this.link.blackhole) continue
      if (item.data !== undefined) this.to.deliver(item.data)
      else this.to.deliverEnd()
    }
    if (this.#full && this.#inflight < MEMORY_HIGH_WATER / 2) {
      this.#full = false
      this.from.drained()
    }
    this.schedule()
  }

  clear(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer as NodeJS.Timeout)
      clearImmediate(this.#timer as NodeJS.Immediate)
    }
    this.#timer = undefined
    this.#queue.length = 0
    this.#inflight = 0
  }
}

class LinkImpl implements MemoryLink {
  latencyMs: number
  bandwidthBytesPerSec: number
  blackhole = false
  active = true
  #pipes: [Pipe, Pipe] | undefined
  #ends: (() => void)[] = []

  constructor(
    readonly hub: MemoryHub,
    readonly dialer: string,
    readonly listener: string,
    readonly address: string,
    opts: MemoryLinkOptions,
  ) {
    this.latencyMs = Math.max(0, opts.latencyMs ?? 0)
    this.bandwidthBytesPerSec = Math.max(0, opts.bandwidthBytesPerSec ?? 0)
    hub.active.add(this)
  }

  attach(a: MemoryEnd, b: MemoryEnd): void {
    this.#pipes = [new Pipe(this, a, b), new Pipe(this, b, a)]
    a.pipe = this.#pipes[0]
    b.pipe = this.#pipes[1]
  }

  onEnd(fn: () => void): void {
    this.#ends.push(fn)
  }

  /** both ends closed, or the link was cut */
  finish(): void {
    if (!this.active) return
    this.active = false
    this.hub.active.delete(this)
    for (const p of this.#pipes ?? []) p.clear()
    for (const fn of this.#ends) fn()
  }

  cut(): void {
    if (!this.active) return
    const ends = this.#pipes?.map(p => p.from) ?? []
    this.finish()
    for (const end of ends) end.fail(new Error(`memory link ${this.address} cut`))
  }
}

/** One end of a memory connection: a RawIO the upgrader runs on directly. */
class MemoryEnd extends BaseIO {
  pipe: Pipe | undefined
  readPaused = false
  #wroteEnd = false
  #gotEnd = false
  #dead = false

  constructor(
    readonly link: LinkImpl,
    remoteAddr: Multiaddr,
  ) {
    super(remoteAddr)
  }

  #other(): MemoryEnd | undefined {
    return this.pipe?.to
  }

  deliver(data: Uint8Array): void {
    if (!this.#dead) this.onData(data)
  }

  deliverEnd(): void {
    if (this.#dead) return
    this.#gotEnd = true
    this.handlers.end()
    if (this.#wroteEnd) this.link.finish()
  }

  drained(): void {
    if (!this.#dead) this.handlers.drain()
  }

  fail(err: Error): void {
    if (this.#dead) return
    this.#dead = true
    this.handlers.error(err)
  }

  write(pieces: Uint8Array[]): boolean {
    if (this.#dead || this.#wroteEnd) return true
    for (const p of pieces) this.bytesOut += p.byteLength
    return this.pipe?.write(pieces) ?? true
  }

  pause(): void {
    this.readPaused = true
  }

  resume(): void {
    this.readPaused = false
    this.#other()?.pipe?.schedule()
  }

  end(): void {
    if (this.#dead || this.#wroteEnd) return
    this.#wroteEnd = true
    this.pipe?.end()
    if (this.#gotEnd) this.link.finish()
  }

  destroy(err?: Error): void {
    if (this.#dead) return
    this.#dead = true
    const other = this.#other()
    this.link.finish()
    other?.fail(new Error(`connection reset by peer${err === undefined ? '' : ` (${messageOf(err)})`}`))
  }
}
