/**
 * Topologies as edge lists over hosts 0 … n-1. Pure functions: the lab turns edges into veth pairs.
 */
import { MAX_HOSTS } from './limits.js'

export type TopologyKind = 'line' | 'ring' | 'tree' | 'sites'

export interface TopologySpec {
  kind: TopologyKind
  hosts: number
  /** children per host in a tree (default 3) */
  branching?: number
}

/** An undirected link between two hosts; `a < b` is not required, the order is the creation order. */
export type Edge = readonly [number, number]

/**
 * The links of a topology.
 *
 * - line: 0 — 1 — … — n-1
 * - ring: a line closed by n-1 — 0
 * - tree: complete tree filled breadth first, `branching` children per host (host i's parent is ⌊(i-1)/b⌋)
 * - sites: two lines of ⌊(n-1)/2⌋ and ⌈(n-1)/2⌉ hosts, and the last host a bridge that alone joins them
 *
 * @example
 * ```ts
 * topologyEdges({ kind: 'ring', hosts: 4 })   // [[0,1],[1,2],[2,3],[3,0]]
 * ```
 */
export function topologyEdges(spec: TopologySpec): Edge[] {
  const n = spec.hosts
  if (!Number.isInteger(n) || n < 2 || n > MAX_HOSTS) {
    throw new RangeError(`a topology needs 2 … ${MAX_HOSTS} hosts, got ${n}`)
  }
  const edges: Edge[] = []
  switch (spec.kind) {
    case 'line':
    case 'ring':
      for (let i = 1; i < n; i++) edges.push([i - 1, i])
      if (spec.kind === 'ring' && n > 2) edges.push([n - 1, 0])
      return edges
    case 'tree': {
      const b = spec.branching ?? 3
      if (!Number.isInteger(b) || b < 1) throw new RangeError(`tree branching must be a positive integer, got ${b}`)
      for (let i = 1; i < n; i++) edges.push([Math.floor((i - 1) / b), i])
      return edges
    }
    case 'sites': {
      if (n < 3) throw new RangeError(`two sites and a bridge need at least 3 hosts, got ${n}`)
      const bridge = n - 1
      const left = Math.floor((n - 1) / 2)
      for (let i = 1; i < left; i++) edges.push([i - 1, i])
      for (let i = left + 1; i < bridge; i++) edges.push([i - 1, i])
      edges.push([left - 1, bridge], [bridge, left])
      return edges
    }
    default:
      throw new RangeError(`unknown topology ${String((spec as { kind: unknown }).kind)}`)
  }
}

/** Hosts in the order a breadth-first walk from `from` meets them, with their distance in links. */
export function hopsFrom(edges: readonly Edge[], hosts: number, from: number): number[] {
  const dist = new Array<number>(hosts).fill(-1)
  dist[from] = 0
  const queue = [from]
  while (queue.length > 0) {
    const h = queue.shift()!
    for (const [a, b] of edges) {
      const other = a === h ? b : b === h ? a : -1
      if (other >= 0 && dist[other] === -1) {
        dist[other] = dist[h]! + 1
        queue.push(other)
      }
    }
  }
  return dist
}
