/**
 * Two sites joined by one bridge host: everything between the sites goes through the bridge, and losing the
 * bridge's link partitions them (routes withdrawn, not left dangling) until it comes back.
 */
import { describe, expect, it } from 'vitest'
import { startDaemon, startPeer, topologyEdges } from '../src/index.js'
import { labFixture, NEEDS_ROOT, ROOT } from './helpers.js'

const fx = labFixture()

describe.skipIf(!ROOT)(`two sites and a bridge${NEEDS_ROOT}`, () => {
  it('cross-site traffic crosses the bridge; a cut bridge link partitions the sites until restored', async () => {
    // site A: 0 — 1, site B: 2 — 3, bridge 4 between 1 and 2
    const edges = topologyEdges({ kind: 'sites', hosts: 5 })
    expect(edges).toEqual([
      [0, 1],
      [2, 3],
      [1, 4],
      [4, 2],
    ])
    const lab = fx.lab({ hosts: 5, edges })
    const dir = fx.dir()
    const a = await startPeer(lab, 0, { dir })
    await startDaemon(lab, 1, { dir, join: [lab.tcp(0, 1)] })
    const bridge = await startDaemon(lab, 4, { dir, join: [lab.tcp(1, 4)] })
    await startDaemon(lab, 2, { dir, join: [lab.tcp(4, 2)] })
    const b = await startPeer(lab, 3, { dir, join: [lab.tcp(2, 3)] })
    const route = async () =>
      (await a.command({ op: 'route', peer: b.id })).route as { hops: number; nextHop: string } | null
    await a.until(async () => (await route())?.hops === 4, 60_000, 'the route across the bridge')
    const t = await a.command({ op: 'transfer', peer: b.id, bytes: 1 << 20, seed: 3 })
    expect(t.ok, String(t.error)).toBe(true)
    expect(t.sha).toBe(t.expected)
    expect((await a.command({ op: 'route', peer: bridge.id })).route).toMatchObject({ hops: 2 })

    lab.cut(4, 2)
    await a.until(async () => (await route()) === null, 30_000, 'the route to be withdrawn')
    const during = await a.command({ op: 'transfer', peer: b.id, bytes: 1024, seed: 4, timeoutMs: 5_000 })
    expect(during.ok).toBe(false)
    lab.restore(4, 2)
    await a.until(async () => (await route())?.hops === 4, 60_000, 'the route back')
    const after = await a.command({ op: 'transfer', peer: b.id, bytes: 1 << 20, seed: 5 })
    expect(after.ok, String(after.error)).toBe(true)
    expect(after.sha).toBe(after.expected)
  })
})
