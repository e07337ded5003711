/**
 * A lab: hosts as network namespaces, links as veth pairs with /30 addresses out of 198.18.0.0/15, processes inside.
 * Teardown always happens — `destroy()`, process exit, SIGINT/SIGTERM — and a new lab first sweeps what dead
 * owners left behind.
 */

import { canBuildLabs, destroyNamespace, ip, ipBatch, sweepStale } from './ip.js'
import { LAB_NET, LAB_PORT, MAX_HOSTS, NAME_PREFIX } from './limits.js'
import { LabProcess, type SpawnOptions } from './process.js'
import type { Edge } from './topology.js'

export interface LabInit {
  hosts: number
  edges: readonly Edge[]
}

export interface LabLink {
  index: number
  a: number
  b: number
  devA: string
  devB: string
  addrA: string
  addrB: string
  up: boolean
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** Thrown when labs cannot be built here (not root, or no iproute2). */
export class LabUnavailableError extends Error {
  readonly code = 'ERR_LAB_UNAVAILABLE'
  constructor() {
    super('netlab needs root and iproute2 (ip netns): run as root')
    this.name = 'LabUnavailableError'
  }
}

const live = new Set<Lab>()
let labSeq = 0
let hooked = false

function hookExit(): void {
  if (hooked) return
  hooked = true
  process.on('exit', () => {
    for (const lab of live) lab.destroy()
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const lab of live) lab.destroy()
      process.kill(process.pid, signal)
    })
  }
}

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/**
 * Builds a lab.
 *
 * @example
 * ```ts
 * const lab = createLab({ hosts: 3, edges: topologyEdges({ kind: 'line', hosts: 3 }) })
 * try {
 *   const r = await lab.exec(0, ['ping', '-c1', lab.addr(1, 0)])
 *   lab.cut(0, 1)
 * } finally { lab.destroy() }
 * ```
 */
export function createLab(init: LabInit): Lab {
  if (!canBuildLabs()) throw new LabUnavailableError()
  sweepStale()
  hookExit()
  const lab = new Lab(init)
  live.add(lab)
  try {
    lab.build()
  } catch (err) {
    lab.destroy()
    throw err
  }
  return lab
}

export class Lab {
  readonly id: string
  readonly hosts: number
  readonly links: LabLink[] = []
  readonly namespaces: string[] = []
  readonly processes = new Set<LabProcess>()
  #destroyed = false
  #built = false

  constructor(init: LabInit) {
    if (!Number.isInteger(init.hosts) || init.hosts < 1 || init.hosts > MAX_HOSTS) {
      throw new RangeError(`a lab has 1 … ${MAX_HOSTS} hosts, got ${init.hosts}`)
    }
    if (init.edges.length * 4 > LAB_NET.size) throw new RangeError('too many links for 198.18.0.0/15')
    this.hosts = init.hosts
    this.id = `${NAME_PREFIX}${process.pid.toString(36)}_${(labSeq++).toString(36)}`
    for (let h = 0; h < init.hosts; h++) this.namespaces.push(`${this.id}-h${h}`)
    init.edges.forEach(([a, b], k) => {
      for (const h of [a, b]) {
        if (!Number.isInteger(h) || h < 0 || h >= init.hosts) throw new RangeError(`link ${a}—${b}: no host ${h}`)
      }
      const base = LAB_NET.first + 4 * k
      this.links.push({
        index: k,
        a,
        b,
        devA: `${this.id}_${k.toString(36)}a`,
        devB: `${this.id}_${k.toString(36)}b`,
        addrA: ipv4(base + 1),
        addrB: ipv4(base + 2),
        up: true,
      })
    })
  }

  /** Creates namespaces and links (createLab calls it). */
  build(): void {
    const root: string[] = this.namespaces.map(ns => `netns add ${ns}`)
    for (const l of this.links) {
      root.push(`link add ${l.devA} type veth peer name ${l.devB}`)
      root.push(`link set ${l.devA} netns ${this.namespaces[l.a]}`)
      root.push(`link set ${l.devB} netns ${this.namespaces[l.b]}`)
    }
    ipBatch(root)
    for (let h = 0; h < this.hosts; h++) {
      const lines = ['link set lo up']
      for (const l of this.links) {
        if (l.a === h) lines.push(`addr add ${l.addrA}/30 dev ${l.devA}`, `link set ${l.devA} up`)
        if (l.b === h) lines.push(`addr add ${l.addrB}/30 dev ${l.devB}`, `link set ${l.devB} up`)
      }
      ipBatch(lines, this.namespaces[h])
    }
    this.#built = true
  }

  /** The link between two hosts (either order). */
  link(a: number, b: number): LabLink {
    const l = this.links.find(x => (x.a === a && x.b === b) || (x.a === b && x.b === a))
    if (l === undefined) throw new RangeError(`no link between hosts ${a} and ${b}`)
    return l
  }

  /** Host `h`'s address on its link to `towards`, or on its first link. */
  addr(h: number, towards?: number): string {
    const l = towards === undefined ? this.links.find(x => x.a === h || x.b === h) : this.link(h, towards)
    if (l === undefined) throw new RangeError(`host ${h} has no links`)
    return l.a === h ? l.addrA : l.addrB
  }

  /** Every address of host `h`. */
  addrs(h: number): string[] {
    return this.links.flatMap(l => (l.a === h ? [l.addrA] : l.b === h ? [l.addrB] : []))
  }

  /** `tcp://ADDR:4001` of host `h` on its link to `towards` (what a neighbour dials). */
  tcp(h: number, towards?: number, port = LAB_PORT): string {
    return `tcp://${this.addr(h, towards)}:${port}`
  }

  /** `--listen` flags for every address of host `h`. */
  listenArgs(h: number, port = LAB_PORT): string[] {
    return this.addrs(h).flatMap(a => ['--listen', `tcp://${a}:${port}`])
  }

  /** Takes both ends of a link down: packets stop, no RST or FIN is sent (a cut cable, not a closed socket). */
  cut(a: number, b: number): void {
    const l = this.link(a, b)
    ipBatch([`link set ${l.devA} down`], this.namespaces[l.a])
    ipBatch([`link set ${l.devB} down`], this.namespaces[l.b])
    l.up = false
  }

  restore(a: number, b: number): void {
    const l = this.link(a, b)
    ipBatch([`link set ${l.devA} up`], this.namespaces[l.a])
    ipBatch([`link set ${l.devB} up`], this.namespaces[l.b])
    l.up = true
  }

  /** Starts `argv` inside host `h`. */
  spawn(h: number, argv: readonly string[], opts?: SpawnOptions): LabProcess {
    if (this.#destroyed) throw new Error(`lab ${this.id} is destroyed`)
    const p = new LabProcess(h, this.namespaces[h]!, argv, opts)
    this.processes.add(p)
    void p.exited.then(() => this.processes.delete(p))
    return p
  }

  /** Runs `argv` inside host `h` to completion. */
  async exec(
    h: number,
    argv: readonly string[],
    opts: SpawnOptions & { timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const p = this.spawn(h, argv, opts)
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    const { code, signal } = await p.exited
    clearTimeout(timer)
    return { code: code ?? (signal !== null ? 128 : 1), stdout: p.stdout(), stderr: p.stderr() }
  }

  /** True while the namespaces exist. */
  get destroyed(): boolean {
    return this.#destroyed
  }

  /** Kills every process in the lab's hosts (also those they left behind) and deletes the namespaces. Idempotent,
   * synchronous (it runs in exit handlers) and never throws. */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    live.delete(this)
    for (const p of this.processes) p.kill('SIGKILL')
    for (const ns of this.namespaces) destroyNamespace(ns)
    if (this.#built) return
    for (const l of this.links) {
      // a veth still in the root namespace (a build that failed half way)
      try {
        ip(['link', 'del', l.devA])
      } catch {}
    }
  }
}
