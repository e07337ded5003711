/**
 * Graph shapes for simulations: each returns the edges (pairs of node indices) of an undirected graph on `n` nodes.
 * Random shapes take a seed, so a failing run can be replayed.
 *
 * @example
 * ```ts
 * const edges = topologies.random(1000, 4, 42)   // connected, average degree ~4
 * ```
 */

export type Edge = readonly [number, number]

/** A small, fast, seedable PRNG (mulberry32); returns floats in [0, 1). */
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

/** 0 – 1 – 2 – … – n-1 */
export function line(n: number): Edge[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, i) => [i, i + 1] as const)
}

/** a line closed into a circle */
export function ring(n: number): Edge[] {
  return n < 3 ? line(n) : [...line(n), [n - 1, 0] as const]
}

/** node 0 in the middle, every other node linked to it */
export function star(n: number): Edge[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, i) => [0, i + 1] as const)
}

/** node i's children are 2i+1 and 2i+2 */
export function binaryTree(n: number): Edge[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, i) => [Math.floor(i / 2), i + 1] as const)
}

/** a `width` × `height` mesh; node index = row * width + column */
export function grid(width: number, height: number): Edge[] {
  const edges: Edge[] = []
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const i = r * width + c
      if (c + 1 < width) edges.push([i, i + 1])
      if (r + 1 < height) edges.push([i, i + width])
    }
  }
  return edges
}

/**
 * Nodes join one by one, each through one node picked at random among those already there (a random tree), then
 * make `extra` further links to random earlier nodes: how a decentralised overlay grows.
 */
export function randomJoins(n: number, seed: number, extra = 0): Edge[] {
  const rnd = seededRandom(seed)
  const edges: Edge[] = []
  const seen = new Set<string>()
  const add = (a: number, b: number): boolean => {
    const k = a < b ? `${a},${b}` : `${b},${a}`
    if (a === b || seen.has(k)) return false
    seen.add(k)
    edges.push([a, b])
    return true
  }
  for (let i = 1; i < n; i++) {
    add(i, Math.floor(rnd() * i))
    for (let k = 0; k < extra && i > 1; k++) add(i, Math.floor(rnd() * i))
  }
  return edges
}

/**
 * A connected random graph with average degree `degree`: a random spanning tree (random joins) plus random edges
 * until the degree is reached.
 */
export function random(n: number, degree: number, seed: number): Edge[] {
  const rnd = seededRandom(seed)
  const edges = randomJoins(n, seed ^ 0x5bd1e995)
  const seen = new Set(edges.map(([a, b]) => (a < b ? `${a},${b}` : `${b},${a}`)))
  const want = Math.min(Math.floor((n * degree) / 2), (n * (n - 1)) / 2)
  let guard = want * 20
  while (edges.length < want && guard-- > 0) {
    const a = Math.floor(rnd() * n)
    const b = Math.floor(rnd() * n)
    const k = a < b ? `${a},${b}` : `${b},${a}`
    if (a === b || seen.has(k)) continue
    seen.add(k)
    edges.push([a, b])
  }
  return edges
}

/** adjacency lists of an edge list */
export function adjacency(n: number, edges: readonly Edge[]): number[][] {
  const adj: number[][] = Array.from({ length: n }, () => [])
  for (const [a, b] of edges) {
    adj[a]?.push(b)
    adj[b]?.push(a)
  }
  return adj
}
