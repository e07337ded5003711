/**
 * Topologies: which agent each agent joins. Every topology here is a tree rooted at agent 0 (each agent knows only
 * its parent's address, as on a real fleet where a host is told one address to join), so a controller that joins
 * through the root reaches everyone else through routes.
 */
import { FleetConfigError } from './errors.js'
import { DEFAULT_BRANCHING } from './limits.js'

export type TopologyName = 'line' | 'tree' | 'star' | 'random'

export const TOPOLOGIES: readonly TopologyName[] = ['line', 'tree', 'star', 'random']

export interface TopologyOptions {
  /** children per agent in a `tree` (default {@link DEFAULT_BRANCHING}) */
  branching?: number
  /** seed of the `random` topology (same seed, same tree) */
  seed?: number
}

/** A small, seedable PRNG (mulberry32): the same seed gives the same random tree on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The parent of every agent (`-1` for the root, agent 0). A parent always has a smaller index than its children, so
 * starting agents in index order (or level by level) always finds the parent listening.
 *
 * - `line`: 0 ← 1 ← 2 ← … (the longest routes: n−1 hops)
 * - `tree`: a complete tree with `branching` children per agent, filled breadth first
 * - `star`: everyone joins agent 0
 * - `random`: each agent joins a uniformly chosen earlier agent (a random recursive tree, depth ~ ln n)
 *
 * @example
 * ```ts
 * parents(7, 'tree', { branching: 2 })   // [-1, 0, 0, 1, 1, 2, 2]
 * parents(4, 'line')                     // [-1, 0, 1, 2]
 * ```
 */
export function parents(count: number, topology: TopologyName, options: TopologyOptions = {}): number[] {
  if (!Number.isInteger(count) || count < 1)
    throw new FleetConfigError(`count must be a positive integer, got ${count}`)
  const branching = options.branching ?? DEFAULT_BRANCHING
  if (!Number.isInteger(branching) || branching < 1) {
    throw new FleetConfigError(`branching must be a positive integer, got ${branching}`)
  }
  const random = seededRandom(options.seed ?? 1)
  const out: number[] = [-1]
  for (let i = 1; i < count; i++) {
    switch (topology) {
      case 'line':
        out.push(i - 1)
        break
      case 'tree':
        out.push(Math.floor((i - 1) / branching))
        break
      case 'star':
        out.push(0)
        break
      case 'random':
        out.push(Math.floor(random() * i))
        break
      default:
        throw new FleetConfigError(`unknown topology "${String(topology)}" (one of ${TOPOLOGIES.join(', ')})`)
    }
  }
  return out
}

/** Depth of every agent (root 0): the hops from the root, one less than the hops from a controller joined there. */
export function depths(parentOf: readonly number[]): number[] {
  const out: number[] = []
  for (let i = 0; i < parentOf.length; i++) {
    const p = parentOf[i]!
    out.push(p < 0 ? 0 : out[p]! + 1)
  }
  return out
}

/** Agents grouped by depth, shallowest first: the order they are started in. */
export function levels(parentOf: readonly number[]): number[][] {
  const d = depths(parentOf)
  const out: number[][] = []
  d.forEach((depth, i) => {
    const level = out[depth]
    if (level === undefined) out[depth] = [i]
    else level.push(i)
  })
  return out
}
