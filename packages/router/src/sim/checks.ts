/**
 * Route checks shared by both simulators: every pair connected in the graph has a route, routes are loop-free,
 * the hops a route claims are the links its path really takes, and (once converged, with the hop-count metric)
 * every route is a shortest path.
 */

/** What a simulator exposes for checking, by node index. */
export interface RoutingView {
  /** number of nodes (some may be dead) */
  readonly size: number
  /** nodes still running */
  alive(i: number): boolean
  /** live links: neighbours of `i` */
  neighbours(i: number): readonly number[]
  /** next hop index from `i` towards `j`, or undefined */
  nextHop(i: number, j: number): number | undefined
  /** hops the route from `i` to `j` claims */
  hops(i: number, j: number): number | undefined
}

export interface CheckOptions {
  /** also require every route's hops to equal the shortest path length (hop-count metric, converged) */
  shortest?: boolean
  /** also require nodes to have no route to nodes outside their component (converged) */
  noStaleRoutes?: boolean
}

export interface CheckReport {
  ok: boolean
  pairs: number
  /** connected pairs without a route */
  missing: number
  /** routes whose next-hop chain revisits a node or dead-ends */
  loops: number
  /** routes whose claimed hops differ from the path the next hops take */
  wrongHops: number
  /** routes longer than the shortest path (only with `shortest`) */
  notShortest: number
  /** routes to nodes that are not reachable any more (only with `noStaleRoutes`) */
  stale: number
  /** a few examples, for failure messages */
  examples: string[]
}

/** BFS distances from `src` over live links (-1: unreachable), e.g. `distances(sim.view(), 0)[17]`. */
export function distances(view: RoutingView, src: number): Int32Array {
  const dist = new Int32Array(view.size).fill(-1)
  if (!view.alive(src)) return dist
  dist[src] = 0
  const queue = [src]
  for (let q = 0; q < queue.length; q++) {
    const u = queue[q] ?? 0
    for (const v of view.neighbours(u)) {
      if (dist[v] === -1 && view.alive(v)) {
        dist[v] = (dist[u] ?? 0) + 1
        queue.push(v)
      }
    }
  }
  return dist
}

/**
 * Checks every ordered pair. For each destination the next hops must form a tree rooted at it; depths are
 * memoised, so a 1,000-node line costs O(n²), not O(n³).
 *
 * @example
 * ```ts
 * const report = checkRoutes(sim.view(), { shortest: true, noStaleRoutes: true })
 * if (!report.ok) console.error(report.examples)   // ['3→17: no route (distance 4)', …]
 * ```
 */
export function checkRoutes(view: RoutingView, options: CheckOptions = {}): CheckReport {
  const n = view.size
  const report: CheckReport = {
    ok: true,
    pairs: 0,
    missing: 0,
    loops: 0,
    wrongHops: 0,
    notShortest: 0,
    stale: 0,
    examples: [],
  }
  const note = (msg: string): void => {
    if (report.examples.length < 8) report.examples.push(msg)
  }
  // depth[i]: path length from i to dest along next hops; -2 = being visited, -3 = broken, -1 = unknown
  const depth = new Int32Array(n)
  const stack: number[] = []
  for (let dest = 0; dest < n; dest++) {
    if (!view.alive(dest)) continue
    const dist = distances(view, dest)
    depth.fill(-1)
    depth[dest] = 0
    for (let src = 0; src < n; src++) {
      if (src === dest || !view.alive(src)) continue
      const connected = (dist[src] ?? -1) >= 0
      const first = view.nextHop(src, dest)
      if (first === undefined) {
        if (connected) {
          report.pairs++
          report.missing++
          note(`${src}→${dest}: no route (distance ${dist[src]})`)
        }
        continue
      }
      if (!connected) {
        if (options.noStaleRoutes === true) {
          report.stale++
          note(`${src}→${dest}: route via ${first} to an unreachable node`)
        }
        continue
      }
      report.pairs++
      const d = resolveDepth(view, src, dest, depth, stack)
      if (d < 0) {
        report.loops++
        note(`${src}→${dest}: next hops loop or dead-end`)
        continue
      }
      const claimed = view.hops(src, dest)
      if (claimed !== d) {
        report.wrongHops++
        note(`${src}→${dest}: claims ${claimed} hops, path takes ${d}`)
      }
      if (options.shortest === true && d !== dist[src]) {
        report.notShortest++
        note(`${src}→${dest}: ${d} hops, shortest is ${dist[src]}`)
      }
    }
  }
  report.ok =
    report.missing === 0 &&
    report.loops === 0 &&
    report.wrongHops === 0 &&
    report.notShortest === 0 &&
    report.stale === 0
  return report
}

function resolveDepth(view: RoutingView, src: number, dest: number, depth: Int32Array, stack: number[]): number {
  stack.length = 0
  let u = src
  while ((depth[u] ?? -1) === -1) {
    depth[u] = -2
    stack.push(u)
    const next = view.nextHop(u, dest)
    // a next hop must be a live neighbour
    if (next === undefined || !view.alive(next) || !view.neighbours(u).includes(next)) {
      u = -1
      break
    }
    u = next
  }
  let d = u < 0 ? -3 : (depth[u] ?? -3)
  if (d === -2) d = -3 // revisited a node on the current walk: a loop
  for (let k = stack.length - 1; k >= 0; k--) {
    const node = stack[k] ?? 0
    d = d < 0 ? -3 : d + 1
    depth[node] = d
  }
  return depth[src] ?? -3
}

/**
 * Routing loops right now (e.g. after every event of a protocol simulation: `countLoops(sim.view()).loops === 0`): next-hop chains that come back to a node they already passed (dead ends, normal while
 * routes change, are not loops). Babel's feasibility condition promises none at any instant.
 */
export function countLoops(view: RoutingView): { loops: number; examples: string[] } {
  const n = view.size
  let loops = 0
  const examples: string[] = []
  const state = new Int32Array(n)
  for (let dest = 0; dest < n; dest++) {
    if (!view.alive(dest)) continue
    // 0 unknown, 1 on the current walk, 2 known loop-free
    state.fill(0)
    state[dest] = 2
    for (let src = 0; src < n; src++) {
      if (state[src] !== 0 || !view.alive(src)) continue
      const walk: number[] = []
      let u = src
      let looped = false
      while (state[u] === 0) {
        state[u] = 1
        walk.push(u)
        const next = view.nextHop(u, dest)
        if (next === undefined) break
        if (state[next] === 1) {
          looped = true
          break
        }
        u = next
      }
      for (const w of walk) state[w] = 2
      if (looped) {
        loops++
        if (examples.length < 4) examples.push(`towards ${dest}: ${walk.join(' → ')} → …`)
      }
    }
  }
  return { loops, examples }
}
