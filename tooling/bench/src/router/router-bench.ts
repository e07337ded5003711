/**
 * Router convergence benchmark: for each size, a random overlay of average degree 4, measured two ways.
 *
 * - `real`: real routers on real networks in this one process (memory transport, Noise + yamux on every link,
 *   channel handshakes, the router's control streams). Wall-clock times are CPU-bound: one core runs every node, so
 *   they say what the stack costs, not how fast a fleet of separate hosts converges.
 * - `protocol`: the same routing state machine and wire codec in a discrete-event simulation (virtual time, links
 *   of `--latency` ms one way, no CPU cost). Times are what a fleet of separate hosts would see, in rounds of
 *   latency and batching.
 *
 * Per size: time to full convergence (every pair has its shortest loop-free route), control frames and bytes per
 * node for it, steady-state control traffic per node per refresh interval, time and traffic to re-converge after a
 * link cut, and memory per node.
 *
 *   node --expose-gc tooling/bench/dist/router/router-bench.js [--sizes 100,1000,5000] [--real-max 1000]
 *                                                [--modes protocol,real] [--degree 4] [--latency 1] [--seed 1]
 *                                                [--steady-ms 60000]
 */

import { DEFAULT_ROUTER_TIMERS } from '@pnet/router'
import { checkRoutes, createNetworkSim, createProtocolSim, topologies } from '@pnet/router/sim'

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const sizes = flag('sizes', '100,1000,5000').split(',').map(Number)
const realMax = Number(flag('real-max', '1000'))
const modes = flag('modes', 'protocol,real').split(',')
for (const m of modes)
  if (m !== 'protocol' && m !== 'real') throw new Error(`unknown mode ${m} (--modes protocol,real)`)
const degree = Number(flag('degree', '4'))
const latencyMs = Number(flag('latency', '1'))
const seed = Number(flag('seed', '1'))
const steadyMs = Number(flag('steady-ms', String(DEFAULT_ROUTER_TIMERS.refreshIntervalMs * 2)))

interface Row {
  size: number
  mode: 'real' | 'protocol'
  convergeMs: number
  framesPerNode: number
  bytesPerNode: number
  steadyFramesPerNode: number
  steadyBytesPerNode: number
  /** every node has a route to every node it can still reach (route counts add up) */
  cutCompleteMs: number
  /** routing stopped moving: every route is shortest again */
  cutMs: number
  cutFramesPerNode: number
  cutBytesPerNode: number
  memPerNodeKiB: number
  tableKiB: number
}

function gc(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

function memory(): number {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** an edge whose cut leaves the graph connected (it lies on a cycle) */
function cuttable(n: number, edges: readonly (readonly [number, number])[]): readonly [number, number] {
  const adj = topologies.adjacency(n, edges)
  for (const [a, b] of edges.slice(Math.floor(edges.length / 2))) {
    const seen = new Set([a])
    const queue = [a]
    for (let q = 0; q < queue.length; q++) {
      for (const v of adj[queue[q]!] ?? []) {
        if (queue[q] === a && v === b) continue
        if (!seen.has(v)) {
          seen.add(v)
          queue.push(v)
        }
      }
    }
    if (seen.has(b)) return [a, b]
  }
  throw new Error('no edge on a cycle')
}

/** virtual time of the last route change anywhere: when routing stopped moving */
function settledAt(sim: Awaited<ReturnType<typeof createProtocolSim>>): number {
  return Math.max(...sim.nodes.map(n => n.table.lastChangeAt))
}

async function protocolRun(size: number): Promise<Row> {
  const edges = topologies.random(size, degree, seed)
  const before = memory()
  const sim = await createProtocolSim({ size, edges, latencyMs, seed })
  const start = sim.now
  if (sim.runUntilQuiet(3_600_000) === undefined) throw new Error(`protocol ${size}: no convergence`)
  const converged = { ...sim.stats, at: settledAt(sim) - start }
  const report = checkRoutes(sim.view(), { shortest: true })
  if (!report.ok) throw new Error(`protocol ${size}: ${JSON.stringify(report.examples)}`)
  const mem = (memory() - before) / size
  const tableKiB = sim.nodes.reduce((s, n) => s + n.table.stateBytes, 0) / size / 1024
  const intervals = 4
  const s0 = { ...sim.stats }
  sim.runUntil(sim.now + DEFAULT_ROUTER_TIMERS.refreshIntervalMs * intervals)
  const steady = { messages: sim.stats.messages - s0.messages, bytes: sim.stats.bytes - s0.bytes }
  const [a, b] = cuttable(size, edges)
  const beforeCut = { ...sim.stats, at: sim.now }
  sim.cut(a, b)
  let cutCompleteMs = Number.NaN
  for (let t = 5; t <= 60_000; t += 5) {
    sim.runUntil(beforeCut.at + t)
    if (sim.routesComplete()) {
      cutCompleteMs = t
      break
    }
  }
  if (sim.runUntilQuiet(600_000) === undefined) throw new Error(`protocol ${size}: no re-convergence after the cut`)
  const cutMs = settledAt(sim) - beforeCut.at
  const after = checkRoutes(sim.view(), { shortest: true, noStaleRoutes: true })
  if (!after.ok) throw new Error(`protocol ${size} after the cut: ${JSON.stringify(after.examples)}`)
  return {
    size,
    mode: 'protocol',
    convergeMs: converged.at,
    framesPerNode: converged.messages / size,
    bytesPerNode: converged.bytes / size,
    steadyFramesPerNode: steady.messages / size / intervals,
    steadyBytesPerNode: steady.bytes / size / intervals,
    cutCompleteMs,
    cutMs,
    cutFramesPerNode: (sim.stats.messages - beforeCut.messages) / size,
    cutBytesPerNode: (sim.stats.bytes - beforeCut.bytes) / size,
    memPerNodeKiB: mem / 1024,
    tableKiB,
  }
}

async function realRun(size: number): Promise<Row> {
  const edges = topologies.random(size, degree, seed)
  const before = memory()
  const sim = await createNetworkSim({ size, edges })
  const started = Date.now()
  await sim.waitConverged({ shortest: true, timeoutMs: 3_600_000, pollMs: 250 })
  const convergeMs = Date.now() - started
  const converged = sim.controlTraffic()
  const mem = (memory() - before) / size
  const tableKiB = sim.nodes.reduce((s, n) => s + n.router.stats().tableBytes, 0) / size / 1024
  // steady state with the default timers: digests every refresh interval, hellos every hello interval
  const s0 = sim.controlTraffic()
  await new Promise(resolve => setTimeout(resolve, steadyMs))
  const s1 = sim.controlTraffic()
  const [a, b] = cuttable(size, edges)
  const c0 = sim.controlTraffic()
  const cutStart = Date.now()
  sim.cut(a, b)
  for (;;) {
    const want = sim.reachableCounts()
    if (sim.routeCounts().every((c, i) => c === want[i])) break
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const cutCompleteMs = Date.now() - cutStart
  await sim.waitConverged({ shortest: true, noStaleRoutes: true, timeoutMs: 600_000, pollMs: 100 })
  const cutMs = Date.now() - cutStart
  const c1 = sim.controlTraffic()
  await sim.close()
  return {
    size,
    mode: 'real',
    convergeMs,
    framesPerNode: converged.framesOut / size,
    bytesPerNode: converged.bytesOut / size,
    steadyFramesPerNode: ((s1.framesOut - s0.framesOut) / size) * (DEFAULT_ROUTER_TIMERS.refreshIntervalMs / steadyMs),
    steadyBytesPerNode: ((s1.bytesOut - s0.bytesOut) / size) * (DEFAULT_ROUTER_TIMERS.refreshIntervalMs / steadyMs),
    cutCompleteMs,
    cutMs,
    cutFramesPerNode: (c1.framesOut - c0.framesOut) / size,
    cutBytesPerNode: (c1.bytesOut - c0.bytesOut) / size,
    memPerNodeKiB: mem / 1024,
    tableKiB,
  }
}

const n0 = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '–')
const n1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–')
const kb = (v: number): string => (Number.isFinite(v) ? (v / 1024).toFixed(1) : '–')

function table(rows: Row[]): string {
  const head = [
    'nodes',
    'mode',
    'converge ms',
    'frames/node',
    'KiB/node',
    'steady frames/node/interval',
    'steady B/node/interval',
    'cut: routes complete ms',
    'cut: all shortest ms',
    'cut: frames/node',
    'cut: KiB/node',
    'memory KiB/node',
    'routing table KiB/node',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of rows) {
    lines.push(
      `| ${[
        r.size,
        r.mode,
        n0(r.convergeMs),
        n0(r.framesPerNode),
        kb(r.bytesPerNode),
        n1(r.steadyFramesPerNode),
        n0(r.steadyBytesPerNode),
        n0(r.cutCompleteMs),
        n0(r.cutMs),
        n1(r.cutFramesPerNode),
        kb(r.cutBytesPerNode),
        n0(r.memPerNodeKiB),
        n1(r.tableKiB),
      ].join(' | ')} |`,
    )
  }
  return lines.join('\n')
}

const rows: Row[] = []
for (const size of sizes) {
  for (const mode of ['protocol', 'real'] as const) {
    if (!modes.includes(mode) || (mode === 'real' && size > realMax)) continue
    process.stderr.write(`  ${mode} ${size} nodes…\n`)
    const row = mode === 'real' ? await realRun(size) : await protocolRun(size)
    rows.push(row)
    process.stderr.write(`  ${mode} ${size}: converged in ${n0(row.convergeMs)} ms\n`)
  }
}
console.log(
  `\nRouter convergence: random graphs, average degree ${degree}, seed ${seed}; protocol mode: ${latencyMs} ms one-way ` +
    `links, virtual time; real mode: one process, memory transport, wall clock (${process.version}).\n`,
)
console.log(table(rows))
process.exit(0)
