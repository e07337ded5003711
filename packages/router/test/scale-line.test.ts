import { afterAll, expect, it } from 'vitest'
import { createNetworkSim, type NetworkSim } from '../src/sim/network-sim.js'
import * as topologies from '../src/sim/topologies.js'

// 1,000 real routers in a line: the worst case for distance-vector (diameter 999).
const SIZE = 1000
let sim: NetworkSim | undefined

afterAll(async () => {
  await sim?.close()
})

it('1,000-node line: converges, relays end to end across 999 hops, and splits cleanly when cut', async () => {
  let t = Date.now()
  sim = await createNetworkSim({
    size: SIZE,
    edges: topologies.line(SIZE),
    limits: { maxRelayHops: 2048 },
    timers: { broadcastHopMarginMs: 20 },
  })
  const built = Date.now() - t
  t = Date.now()
  await sim.waitConverged({ shortest: true, timeoutMs: 300_000, pollMs: 1_000 })
  console.log(`line ${SIZE}: built ${built} ms, converged ${Date.now() - t} ms`, sim.controlTraffic())

  t = Date.now()
  const r = await sim.unicast(0, SIZE - 1)
  expect(r).toMatchObject({ hops: SIZE - 1, linkStreams: SIZE - 1, relayed: true })
  console.log(`line ${SIZE}: echo over ${r.hops} relayed hops in ${Date.now() - t} ms`)

  sim.cut(499, 500)
  t = Date.now()
  await sim.waitConverged({ shortest: true, noStaleRoutes: true, timeoutMs: 120_000, pollMs: 500 })
  console.log(`line ${SIZE}: split in two in ${Date.now() - t} ms`)
  expect(sim.nodes[0]!.router.reachable().length).toBe(499)
}, 600_000)
