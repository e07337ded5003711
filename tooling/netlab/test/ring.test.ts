/**
 * Scenario 1: 8-host line and ring on real network stacks. The ends of the line reach each other through six
 * `pnet daemon` relays; on the ring, a link on the path is cut while checksummed transfers and pings run.
 */
import { describe, expect, it } from 'vitest'
import {
  LAB_KEEPALIVE,
  type PeerProc,
  percentile,
  recordFigures,
  startDaemon,
  startPeer,
  topologyEdges,
} from '../src/index.js'
import { commandFor, labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'

const fx = labFixture()
const HOSTS = 8
const TRANSFER_BYTES = 512 * 1024

async function routeHops(from: PeerProc, to: PeerProc): Promise<number | undefined> {
  const r = await from.command({ op: 'route', peer: to.id })
  return (r.route as { hops: number } | null)?.hops
}

describe.skipIf(!ROOT)(`scenario 1: 8-host line and ring${NEEDS_ROOT}`, () => {
  it('line of 8: the ends reach each other over 7 hops, checksummed and pinged', async () => {
    const lab = fx.lab({ hosts: HOSTS, edges: topologyEdges({ kind: 'line', hosts: HOSTS }) })
    const dir = fx.dir()
    const a = await startPeer(lab, 0, { dir: `${dir}/line` })
    for (let h = 1; h < HOSTS - 1; h++) await startDaemon(lab, h, { dir: `${dir}/line`, join: [lab.tcp(h - 1, h)] })
    const z = await startPeer(lab, HOSTS - 1, { dir: `${dir}/line`, join: [lab.tcp(HOSTS - 2, HOSTS - 1)] })
    const started = Date.now()
    await a.until(async () => (await routeHops(a, z)) === HOSTS - 1, 60_000, 'a route to the far end')
    const convergeMs = Date.now() - started
    const there = await a.command({ op: 'transfer', peer: z.id, bytes: 4 << 20, seed: 11 })
    const back = await z.command({ op: 'transfer', peer: a.id, bytes: 4 << 20, seed: 12 })
    for (const t of [there, back]) {
      expect(t.ok, String(t.error)).toBe(true)
      expect(t.hops).toBe(HOSTS - 1)
      expect(t.bytes).toBe(4 << 20)
      expect(t.sha).toBe(t.expected)
    }
    const rtts: number[] = []
    for (let i = 0; i < 20; i++) {
      const p = await a.command({ op: 'ping', peer: z.id })
      expect(p.ok, String(p.error)).toBe(true)
      expect(p.hops).toBe(HOSTS - 1)
      rtts.push(p.rttMs as number)
    }
    recordFigures('line', commandFor('ring.test.ts'), {
      hosts: HOSTS,
      hops: HOSTS - 1,
      convergeMs,
      transferMiB: 4,
      transferMs: Math.round(there.ms as number),
      corruptedBytes: 0,
      pingP50Ms: percentile(rtts, 50),
      pingP99Ms: percentile(rtts, 99),
    })
  })

  it('ring of 8: a link on the path is cut under load; new streams reroute, no byte is corrupted', async () => {
    const lab = fx.lab({ hosts: HOSTS, edges: topologyEdges({ kind: 'ring', hosts: HOSTS }) })
    const dir = `${fx.dir()}/ring`
    // peers at 0 and 3 (3 hops over 1, 2; 5 hops the other way round), daemons elsewhere
    const procs: Record<number, PeerProc> = {}
    procs[0] = await startPeer(lab, 0, { dir })
    for (let h = 1; h < HOSTS; h++) {
      const join = [lab.tcp(h - 1, h)]
      if (h === HOSTS - 1) join.push(lab.tcp(0, h))
      if (h === 3) procs[3] = await startPeer(lab, h, { dir, join })
      else await startDaemon(lab, h, { dir, join })
    }
    const a = procs[0]!
    const z = procs[3]!
    await a.until(async () => (await routeHops(a, z)) === 3, 60_000, 'the 3-hop route')

    const transfers: { start: number; end: number; ok: boolean; good: boolean; hops?: number; error?: string }[] = []
    const pings: { at: number; ok: boolean; rttMs?: number }[] = []
    let running = true
    const transferLoop = (async () => {
      for (let seed = 1; running; seed++) {
        const start = Date.now()
        const t = await a.command({ op: 'transfer', peer: z.id, bytes: TRANSFER_BYTES, seed, timeoutMs: 15_000 })
        transfers.push({
          start,
          end: Date.now(),
          ok: t.ok,
          good: t.ok && t.sha === t.expected && t.bytes === TRANSFER_BYTES,
          hops: t.hops as number | undefined,
          error: t.error,
        })
        if (!t.ok) await sleep(100)
      }
    })()
    const pingLoop = (async () => {
      while (running) {
        const at = Date.now()
        const p = await a.command({ op: 'ping', peer: z.id, timeoutMs: 1_000 })
        pings.push({ at, ok: p.ok, rttMs: p.rttMs as number | undefined })
        await sleep(100)
      }
    })()

    await sleep(3_000)
    const cutAt = Date.now()
    lab.cut(1, 2)
    await a.until(async () => (await routeHops(a, z)) === 5, 30_000, 'the 5-hop route after the cut')
    const rerouteMs = Date.now() - cutAt
    // a stream opened after the reroute completes over the new path
    await a.until(
      () => transfers.some(t => t.start >= cutAt + rerouteMs && t.good),
      30_000,
      'a transfer on the new path',
    )
    await sleep(2_000)
    const restoreAt = Date.now()
    lab.restore(1, 2)
    await a.until(async () => (await routeHops(a, z)) === 3, 60_000, 'the 3-hop route after the restore')
    const restoreMs = Date.now() - restoreAt
    await sleep(1_500)
    running = false
    await Promise.all([transferLoop, pingLoop])

    const completed = transfers.filter(t => t.ok)
    // every transfer that completed delivered exactly the bytes sent; the others failed loudly, none silently wrong
    expect(completed.every(t => t.good)).toBe(true)
    expect(completed.length).toBeGreaterThan(3)
    const firstNew = transfers.find(t => t.start >= cutAt && t.good)!
    expect(firstNew.hops).toBe(5)
    expect(transfers.some(t => t.good && t.start > restoreAt + restoreMs && t.hops === 3)).toBe(true)
    // "within keepalive + update time": the link timeout, plus generous room for triggered updates on loaded cores
    expect(rerouteMs).toBeLessThan(LAB_KEEPALIVE.timeoutMs + 8_000)
    const okBefore = pings.filter(p => p.ok && p.at < cutAt)
    const firstOkAfter = pings.find(p => p.ok && p.at > cutAt)
    expect(okBefore.length).toBeGreaterThan(0)
    expect(firstOkAfter).toBeDefined()
    const rtts = pings.filter(p => p.ok).map(p => p.rttMs!)
    recordFigures('ring-cut', commandFor('ring.test.ts'), {
      hosts: HOSTS,
      keepaliveMs: LAB_KEEPALIVE.intervalMs,
      linkTimeoutMs: LAB_KEEPALIVE.timeoutMs,
      rerouteMs,
      pingGapMs: firstOkAfter!.at - okBefore.at(-1)!.at,
      firstNewStreamMs: firstNew.end - cutAt,
      restoreRerouteMs: restoreMs,
      transfers: transfers.length,
      transfersCompleted: completed.length,
      transfersFailedLoudly: transfers.length - completed.length,
      bytesVerified: completed.length * TRANSFER_BYTES,
      corruptedBytes: 0,
      pings: pings.length,
      pingsLost: pings.filter(p => !p.ok).length,
      pingP50Ms: percentile(rtts, 50),
      pingP99Ms: percentile(rtts, 99),
    })
  })
})
