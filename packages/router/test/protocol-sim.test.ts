import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_ROUTER_TIMERS } from '../src/limits.js'
import type { PeerKey } from '../src/peer-key.js'
import { checkRoutes, countLoops } from '../src/sim/checks.js'
import { createProtocolSim, type ProtocolSim } from '../src/sim/protocol-sim.js'
import * as topologies from '../src/sim/topologies.js'
import { peerKeys } from './helpers.js'

let keys: PeerKey[] = []
beforeAll(async () => {
  keys = await peerKeys(1000)
})

function converged(sim: ProtocolSim): void {
  expect(sim.runUntilQuiet(), 'quiet').toBeDefined()
  const report = checkRoutes(sim.view(), { shortest: true, noStaleRoutes: true })
  expect(report, JSON.stringify(report.examples)).toMatchObject({ ok: true })
}

describe('protocol simulation', () => {
  it.each([
    ['line', 30, topologies.line(30)],
    ['ring', 30, topologies.ring(30)],
    ['star', 30, topologies.star(30)],
    ['binary tree', 63, topologies.binaryTree(63)],
    ['grid', 49, topologies.grid(7, 7)],
    ['random degree 3', 60, topologies.random(60, 3, 11)],
    ['random joins', 60, topologies.randomJoins(60, 5, 1)],
  ] as const)('%s converges to shortest loop-free routes', async (_name, size, edges) => {
    const sim = await createProtocolSim({ size, edges, keys })
    converged(sim)
  })

  it('keeps routes loop-free at every instant through cuts, joins, kills, graceful leaves and heals', async () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), a: fc.nat(), b: fc.nat() }),
      fc.record({ kind: fc.constant('connect' as const), a: fc.nat(), b: fc.nat() }),
      fc.record({ kind: fc.constant('kill' as const), a: fc.nat() }),
      fc.record({ kind: fc.constant('leave' as const), a: fc.nat() }),
      fc.record({ kind: fc.constant('run' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 16 }),
        fc.integer({ min: 2, max: 4 }),
        fc.integer(),
        fc.array(event, { maxLength: 30 }),
        async (size, degree, seed, events) => {
          const edges = topologies.random(size, degree, seed)
          const sim = await createProtocolSim({
            size,
            edges,
            keys,
            seed,
            afterEvent: s => {
              const { loops, examples } = countLoops(s.view())
              if (loops > 0) throw new Error(`routing loop at t=${s.now}: ${examples.join('; ')}`)
            },
          })
          for (const e of events) {
            const a = 'a' in e ? e.a % size : 0
            const b = 'b' in e ? e.b % size : 0
            if (e.kind === 'cut') sim.cut(a, b)
            else if (e.kind === 'connect') sim.connect(a, b)
            else if (e.kind === 'kill') sim.kill(a)
            else if (e.kind === 'leave') sim.leave(a)
            else sim.runUntil(sim.now + e.ms)
          }
          converged(sim)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('partition and heal: each side converges to itself, then the whole graph', async () => {
    const sim = await createProtocolSim({
      size: 40,
      edges: [
        ...topologies.ring(20),
        ...topologies.ring(20).map(([a, b]) => [a + 20, b + 20] as const),
        [0, 20],
        [10, 30],
      ],
      keys,
    })
    converged(sim)
    sim.cut(0, 20)
    sim.cut(10, 30)
    converged(sim)
    const view = sim.view()
    expect(view.nextHop(0, 25)).toBeUndefined()
    expect(view.nextHop(0, 5)).toBeDefined()
    sim.connect(5, 25)
    converged(sim)
  })

  it('after convergence sends only digests: O(links) frames per refresh interval, nothing else', async () => {
    const size = 200
    const edges = topologies.random(size, 4, 5)
    const sim = await createProtocolSim({ size, edges, keys })
    converged(sim)
    const before = { ...sim.stats }
    const counters = sim.nodes.map(n => ({ ...n.table.counters }))
    const intervals = 10
    sim.runUntil(sim.now + DEFAULT_ROUTER_TIMERS.refreshIntervalMs * intervals)
    const frames = sim.stats.messages - before.messages
    const digests = sim.nodes.reduce((sum, n, i) => sum + n.table.counters.digestsSent - counters[i]!.digestsSent, 0)
    expect(frames).toBe(digests)
    // each node sends one digest per neighbour per (jittered ±25%) interval
    expect(frames).toBeLessThanOrEqual(2 * edges.length * Math.ceil(intervals / 0.75 + 1))
    expect(sim.stats.bytes - before.bytes).toBe(frames * 13)
  })

  it('converges 1,000-node random and line topologies', async () => {
    for (const edges of [topologies.random(1000, 4, 21), topologies.line(1000)]) {
      const sim = await createProtocolSim({ size: 1000, edges, keys })
      converged(sim)
    }
  }, 120_000)
})
