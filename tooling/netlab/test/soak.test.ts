/**
 * Scenario 4, the soak: random link flaps on a ring while checksummed streams flow and ops jobs run every few
 * seconds. Zero corrupted bytes, every job and host accounted for, every daemon's memory flat after warm-up.
 * CI runs it for NETLAB_SOAK_MS (default 35 s); `npm run soak` runs the full 5 minutes.
 */
import { describe, expect, it } from 'vitest'
import { type LabProcess, type PeerProc, recordFigures, startAgent, startPeer, topologyEdges } from '../src/index.js'
import { commandFor, labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'
import { auditLog, controllerKey, type ExecOutput, opsExec } from './ops.js'

const fx = labFixture()
const SOAK_MS = Number(process.env.NETLAB_SOAK_MS ?? 35_000)
const RING = 8
const CONTROLLER = RING
const PEERS = [0, 4]
const AGENTS = [1, 2, 3, 5, 6, 7]
const TRANSFER_BYTES = 256 * 1024

/** Mean of the samples in [from, to) of the list. */
function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
}

describe.skipIf(!ROOT)(`scenario 4: soak under link flaps${NEEDS_ROOT}`, () => {
  it(
    `${Math.round(SOAK_MS / 1000)} s of flaps, transfers and jobs: nothing lost, nothing corrupted, memory flat`,
    async () => {
      const edges = topologyEdges({ kind: 'ring', hosts: RING })
      const lab = fx.lab({ hosts: RING + 1, edges: [...edges, [1, CONTROLLER]] })
      const dir = fx.dir()
      const ctl = controllerKey(dir)
      const procs: LabProcess[] = []
      const peers: Record<number, PeerProc> = {}
      const dataDirs: string[] = []
      const agentIds: string[] = []
      for (let h = 0; h < RING; h++) {
        const join = h === 0 ? [] : [lab.tcp(h - 1, h)]
        if (h === RING - 1) join.push(lab.tcp(0, h))
        if (PEERS.includes(h)) {
          peers[h] = await startPeer(lab, h, { dir, join })
          procs.push(peers[h]!.proc)
        } else {
          const a = await startAgent(lab, h, { dir, join, trust: [ctl.peer] })
          procs.push(a.proc)
          dataDirs.push(a.dataDir)
          agentIds.push(a.id)
        }
      }
      const src = peers[0]!
      const dst = peers[4]!
      await src.until(async () => (await src.command({ op: 'route', peer: dst.id })).route !== null, 60_000, 'routes')

      const started = Date.now()
      const end = started + SOAK_MS
      const flaps: { link: string; downMs: number }[] = []
      const transfers = { ok: 0, failed: 0, corrupted: 0, bytes: 0 }
      const jobs: ExecOutput[] = []
      const rss = new Map<number, { at: number; bytes: number }[]>()

      const flapper = (async () => {
        let seed = 7
        const rand = (n: number): number => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff
          return seed % n
        }
        while (Date.now() < end - 5_000) {
          await sleep(2_000 + rand(3_000))
          const [a, b] = edges[rand(edges.length)]!
          const downMs = 1_000 + rand(4_000)
          lab.cut(a, b)
          await sleep(downMs)
          lab.restore(a, b)
          flaps.push({ link: `${a}-${b}`, downMs })
        }
      })()
      let operatorDone = false
      const mover = (async () => {
        for (let seed = 1; Date.now() < end || !operatorDone; seed++) {
          const t = await src.command({ op: 'transfer', peer: dst.id, bytes: TRANSFER_BYTES, seed, timeoutMs: 10_000 })
          if (!t.ok) {
            transfers.failed++
            await sleep(200)
          } else if (t.sha !== t.expected || t.bytes !== TRANSFER_BYTES) transfers.corrupted++
          else {
            transfers.ok++
            transfers.bytes += TRANSFER_BYTES
          }
        }
      })()
      const operator = (async () => {
        // at least three jobs, however slow a loaded machine makes each one
        while (Date.now() < end - 5_000 || jobs.length < 3) {
          jobs.push(
            await opsExec(lab, CONTROLLER, [
              '--key',
              ctl.key,
              '--via',
              lab.tcp(1, CONTROLLER),
              // by peer ID: each agent is a target whether or not a flap hides it at that moment
              ...agentIds.flatMap(id => ['--target', `id=${id}`]),
              '--timeout',
              '15s',
              '--',
              'echo',
              'ok',
            ]),
          )
          await sleep(3_000)
        }
        operatorDone = true
      })()
      const sampler = setInterval(() => {
        procs.forEach((p, i) => {
          const bytes = p.rss()
          if (bytes !== undefined) rss.set(i, [...(rss.get(i) ?? []), { at: Date.now() - started, bytes }])
        })
      }, 1_000)
      await Promise.all([flapper, mover, operator])
      clearInterval(sampler)

      // every job: every host accounted for, and no agent ran a job twice
      expect(jobs.length).toBeGreaterThan(2)
      for (const j of jobs) {
        const s = j.summary
        expect(s.ok + s.failed + s.timeout + s.unreachable + s.refused + s.cancelled).toBe(s.targeted)
        expect(j.hosts).toHaveLength(s.targeted)
        expect(s.failed + s.refused).toBe(0)
        expect(s.targeted).toBe(AGENTS.length)
      }
      for (const d of dataDirs) {
        const accepted = auditLog(d).filter(l => l.decision === 'accepted' && l.job !== undefined)
        expect(new Set(accepted.map(l => l.job)).size).toBe(accepted.length)
      }
      expect(transfers.corrupted).toBe(0)
      expect(transfers.ok).toBeGreaterThan(0)
      // memory after warm-up (the first quarter): the last third's mean within 25% + 24 MiB of the first third's
      const growth: number[] = []
      for (const samples of rss.values()) {
        const steady = samples.filter(s => s.at > SOAK_MS / 4).map(s => s.bytes)
        const third = Math.max(1, Math.floor(steady.length / 3))
        const first = mean(steady.slice(0, third))
        const last = mean(steady.slice(-third))
        growth.push((last - first) / 2 ** 20)
        expect(last).toBeLessThan(first * 1.25 + 24 * 2 ** 20)
      }
      const totals = jobs.reduce(
        (t, j) => {
          t.targeted += j.summary.targeted
          t.ok += j.summary.ok
          t.unreachable += j.summary.unreachable
          t.timeout += j.summary.timeout
          return t
        },
        { targeted: 0, ok: 0, unreachable: 0, timeout: 0 },
      )
      recordFigures(SOAK_MS >= 300_000 ? 'soak-full' : 'soak-ci', commandFor('soak.test.ts'), {
        durationS: SOAK_MS / 1000,
        hosts: RING,
        flaps: flaps.length,
        meanDownMs: Math.round(mean(flaps.map(f => f.downMs))),
        transfersOk: transfers.ok,
        transfersFailedLoudly: transfers.failed,
        bytesVerified: transfers.bytes,
        corruptedBytes: transfers.corrupted * TRANSFER_BYTES,
        jobs: jobs.length,
        hostResults: totals,
        jobsLost: 0,
        rssGrowthAfterWarmupMiB: growth.map(g => Math.round(g * 10) / 10),
        rssEndMiB: [...rss.values()].map(s => Math.round(s.at(-1)!.bytes / 2 ** 20)),
      })
    },
    SOAK_MS + 180_000,
  )
})
