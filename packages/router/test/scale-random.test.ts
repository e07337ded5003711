import { afterAll, expect, it, onTestFailed } from 'vitest'
import { createNetworkSim, type NetworkSim } from '../src/sim/network-sim.js'
import * as topologies from '../src/sim/topologies.js'
import { tallyLogger } from './helpers.js'

// 1,000 real routers (Noise + yamux on every memory link) on a random graph of average degree 4.
const SIZE = 1000
let sim: NetworkSim | undefined
const log = tallyLogger()

afterAll(async () => {
  await sim?.close()
})

it('1,000-node random graph: converges, stays loop-free through a cut and a kill, relays and broadcasts', async () => {
  // what the nodes logged, printed when the test fails: a link lost under load says why
  onTestFailed(() => {
    console.log(`random ${SIZE}: log lines by kind\n${log.top()}`)
  })
  const edges = topologies.random(SIZE, 4, 1234)
  let t = Date.now()
  sim = await createNetworkSim({ size: SIZE, edges, logger: log })
  const built = Date.now() - t
  t = Date.now()
  const report = await sim.waitConverged({ shortest: true, timeoutMs: 240_000, pollMs: 500 })
  const converged = Date.now() - t
  expect(report.pairs).toBe(SIZE * (SIZE - 1))
  console.log(`random ${SIZE}: built ${built} ms, converged ${converged} ms`, sim.controlTraffic(), `\n${log.top(12)}`)

  // unicast: exactly `hops` link streams per relayed stream
  for (const [a, b] of [
    [0, 999],
    [17, 500],
    [999, 3],
  ] as const) {
    const r = await sim.unicast(a, b)
    expect(r.linkStreams).toBe(r.hops)
  }

  // a cut and a killed node: re-convergence, no stale routes
  const [x, y] = edges[10]!
  sim.cut(x, y)
  await sim.kill(123)
  t = Date.now()
  await sim.waitConverged({ shortest: true, noStaleRoutes: true, timeoutMs: 120_000, pollMs: 250 })
  console.log(`random ${SIZE}: cut + kill re-converged in ${Date.now() - t} ms`)

  // broadcast to everyone still reachable from node 0
  const runs = new Map<number, number>()
  for (const n of sim.nodes)
    if (n.alive) n.router.handleBroadcast('sim', () => void runs.set(n.index, (runs.get(n.index) ?? 0) + 1))
  const bc = await sim.nodes[0]!.router.broadcast('sim', new Uint8Array(8), { timeoutMs: 60_000 })
  expect(bc.failed).toEqual([])
  expect(bc.delivered.length).toBe(sim.reachableCounts()[0])
  expect([...runs.values()].every(n => n === 1)).toBe(true)
  expect(runs.size).toBe(bc.delivered.length)
  // copies follow the next hops towards each target: about one per reached node (shortest paths to different
  // targets can cross, so a node now and then gets two), far from a flood's one per link direction
  const copies = sim.nodes.reduce((sum, n) => sum + (n.alive ? n.router.stats().broadcast.forwarded : 0), 0)
  console.log(`random ${SIZE}: broadcast to ${bc.delivered.length} in ${bc.elapsedMs} ms with ${copies} copies`)
  expect(copies).toBeGreaterThanOrEqual(bc.delivered.length)
  expect(copies).toBeLessThan(bc.delivered.length * 1.25)
}, 600_000)
