import { describe, expect, it } from 'vitest'
import { createNetworkSim } from '../src/sim/network-sim.js'
import * as topologies from '../src/sim/topologies.js'
import { seededRandom } from '../src/sim/topologies.js'

describe('network simulation (real routers on memory networks)', () => {
  it.each([
    ['line', 24, topologies.line(24)],
    ['ring', 24, topologies.ring(24)],
    ['star', 24, topologies.star(24)],
    ['binary tree', 31, topologies.binaryTree(31)],
    ['grid', 25, topologies.grid(5, 5)],
    ['random degree 3', 40, topologies.random(40, 3, 8)],
    ['random joins', 40, topologies.randomJoins(40, 3, 1)],
  ] as const)(
    '%s: shortest loop-free routes, unicast over exactly `hops` links, complete broadcast',
    async (_n, size, edges) => {
      const sim = await createNetworkSim({ size, edges })
      try {
        const report = await sim.waitConverged({ shortest: true, timeoutMs: 30_000 })
        expect(report.pairs).toBe(size * (size - 1))
        const rnd = seededRandom(size)
        for (let k = 0; k < 4; k++) {
          const a = Math.floor(rnd() * size)
          const b = (a + 1 + Math.floor(rnd() * (size - 1))) % size
          const r = await sim.unicast(a, b)
          expect(r.linkStreams, `${a}→${b}`).toBe(r.hops)
          expect(r.hops).toBe(sim.nodes[a]!.router.route(sim.nodes[b]!.peerId)!.hops)
        }
        for (const n of sim.nodes) n.router.handleBroadcast('t', () => {})
        const bc = await sim.nodes[size - 1]!.router.broadcast('t', new Uint8Array(3))
        expect(bc.failed).toEqual([])
        expect(bc.delivered).toHaveLength(size - 1)
      } finally {
        await sim.close()
      }
    },
  )

  it('nodes joining a running overlay one by one, each through one random node, are reachable from all', async () => {
    const sim = await createNetworkSim({ size: 1, edges: [], startRouters: 'first' })
    const rnd = seededRandom(99)
    try {
      for (let i = 1; i < 30; i++) {
        await sim.addNode()
        await sim.link(i, Math.floor(rnd() * i))
      }
      await sim.waitConverged({ shortest: true, timeoutMs: 30_000 })
    } finally {
      await sim.close()
    }
  })

  it('a killed node and a node that leaves are forgotten everywhere; the rest stays reachable', async () => {
    const size = 30
    const sim = await createNetworkSim({ size, edges: topologies.random(size, 4, 3) })
    try {
      await sim.waitConverged({ shortest: true })
      await sim.kill(5)
      await sim.leave(6)
      await sim.waitConverged({ shortest: true, noStaleRoutes: true, timeoutMs: 30_000 })
      for (const n of sim.nodes) {
        if (!n.alive) continue
        expect(n.router.route(sim.nodes[5]!.peerId)).toBeUndefined()
        expect(n.router.route(sim.nodes[6]!.peerId)).toBeUndefined()
      }
    } finally {
      await sim.close()
    }
  })
})
