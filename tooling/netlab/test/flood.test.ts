/**
 * Scenario 5: one node flooded — thousands of connection attempts per second, half-open handshakes, stream bombs,
 * oversized frames — while a legitimate neighbour pings it. Each attack alone, then all at once. The legitimate
 * peer's ping p99 must stay within 10× the unloaded one under every attack, the node's memory bounded, the
 * legitimate link intact, and the bombers cut off (they redial with the same identity and are cut again).
 */
import { describe, expect, it } from 'vitest'
import { type LabProcess, percentile, recordFigures, startDaemon, startPeer } from '../src/index.js'
import { FLOOD_CLI } from '../src/runners.js'
import { commandFor, labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'

const fx = labFixture()
/** Seconds per attack phase (each attack alone, then all together). */
const PHASE_MS = Number(process.env.NETLAB_FLOOD_MS ?? 6_000)
const PHASES = ['connect', 'half-open', 'bomb', 'oversized', 'connect,half-open,bomb,oversized']
/** The bound on the legitimate peer's ping p99 under each attack, as a multiple of the unloaded p99 (issue 9). */
const P99_RATIO = 10
/**
 * How much the target's RSS may grow over all the floods: 65–80 MiB measured (10 runs in a row), most of it V8 growing
 * its young generation under the connection flood and keeping it. The margin (about 2×) is for V8 growing it once more
 * on a busier machine; a leak of per-connection state (thousands of connections a second) would pass it within the
 * first phase.
 */
const RSS_GROWTH_BYTES = 160 * 2 ** 20

describe.skipIf(!ROOT)(`scenario 5: floods against one node${NEEDS_ROOT}`, () => {
  it(`a legitimate peer loses no ping and keeps its latency (p99 ≤ ${P99_RATIO}× unloaded under each attack and all at once); the node its memory, and cuts the bombers off`, async () => {
    // legit (0) — target (1) — attacker (2)
    const lab = fx.lab({
      hosts: 3,
      edges: [
        [0, 1],
        [1, 2],
      ],
    })
    const dir = fx.dir()
    // the attacker gets a core of its own: it stands for another machine, not for CPU taken from the target
    const target = await startDaemon(lab, 1, { dir, cpus: '0' })
    const legit = await startPeer(lab, 0, { dir, join: [lab.tcp(1, 0)], cpus: '0' })
    await legit.until(async () => (await legit.command({ op: 'ping', peer: target.id })).ok, 30_000, 'first ping')

    const pingFor = async (ms: number): Promise<{ rtts: number[]; lost: number }> => {
      const rtts: number[] = []
      let lost = 0
      const end = Date.now() + ms
      while (Date.now() < end) {
        const p = await legit.command({ op: 'ping', peer: target.id, timeoutMs: 2_000 })
        if (p.ok) rtts.push(p.rttMs as number)
        else lost++
        await sleep(20)
      }
      return { rtts, lost }
    }
    await pingFor(1_000) // warm-up
    const calm = await pingFor(5_000)
    const calmP99 = percentile(calm.rtts, 99)
    const rssBefore = target.proc.rss()!
    const rss: number[] = []
    const sampler = setInterval(() => {
      const r = target.proc.rss()
      if (r !== undefined) rss.push(r)
    }, 250)

    const phases: Record<string, unknown>[] = []
    for (const attacks of PHASES) {
      const flood: LabProcess = lab.spawn(
        2,
        [
          process.execPath,
          FLOOD_CLI,
          '--target',
          `${lab.addr(1, 2)}:4001`,
          '--peer',
          target.id,
          '--duration-ms',
          String(PHASE_MS),
          '--connect-rate',
          '2000',
          '--half-open',
          '200',
          '--bombs',
          '2',
          '--attacks',
          attacks,
        ],
        { cpus: '1' },
      )
      await flood.waitFor(/started/, 30_000)
      const rssFrom = rss.length
      await sleep(500) // let it ramp up
      const loaded = await pingFor(PHASE_MS - 1_500)
      await flood.exited
      const attack = JSON.parse(flood.stdout().trim().split('\n').at(-1)!) as Record<string, number>
      phases.push({
        attacks,
        connectAttemptsPerSec: Math.round(attack.connectAttempts! / (PHASE_MS / 1000)),
        attack,
        pings: loaded.rtts.length,
        lost: loaded.lost,
        p50Ms: percentile(loaded.rtts, 50),
        p99Ms: percentile(loaded.rtts, 99),
        p99Ratio: percentile(loaded.rtts, 99) / calmP99,
        rssPeakMiB: Math.max(...rss.slice(rssFrom)) / 2 ** 20,
        rssEndMiB: rss.at(-1)! / 2 ** 20,
      })
      await sleep(1_000)
    }
    clearInterval(sampler)

    // after the floods: the node still serves, the legitimate link is the one it had
    expect(target.proc.running).toBe(true)
    const ping = await legit.command({ op: 'ping', peer: target.id })
    expect(ping.ok, String(ping.error)).toBe(true)
    const peakRss = Math.max(...rss)
    recordFigures('flood', commandFor('flood.test.ts'), {
      phaseMs: PHASE_MS,
      calmPings: calm.rtts.length,
      calmP50Ms: percentile(calm.rtts, 50),
      calmP99Ms: calmP99,
      phases,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssPeakMiB: peakRss / 2 ** 20,
      rssGrowthLimitMiB: RSS_GROWTH_BYTES / 2 ** 20,
      p99RatioLimit: P99_RATIO,
    })
    // the attacks ran at strength, and the node cut the bombers off (each redials with the same identity)
    const attack = (name: string) => phases.find(p => p.attacks === name)!.attack as Record<string, number>
    expect(attack('connect').connectAttempts).toBeGreaterThan(1_000 * (PHASE_MS / 1000))
    expect(attack('bomb').streamsOpened).toBeGreaterThan(1_000)
    expect(attack('bomb').bombConnectionsCut).toBeGreaterThan(0)
    expect(attack('oversized').oversizedSent).toBeGreaterThan(0)
    expect(attack('oversized').oversizedConnectionsCut).toBeGreaterThan(0)
    const all = phases.at(-1)!.attack as Record<string, number>
    expect(all.connectAttempts).toBeGreaterThan(1_000 * (PHASE_MS / 1000))
    expect(all.streamsOpened).toBeGreaterThan(0)
    expect(all.oversizedSent).toBeGreaterThan(0)
    for (const p of phases) {
      expect(p.lost, `${p.attacks}: pings lost`).toBe(0)
      expect(p.p99Ratio as number, `${p.attacks}: p99 ratio`).toBeLessThanOrEqual(P99_RATIO)
    }
    expect(peakRss).toBeLessThan(rssBefore + RSS_GROWTH_BYTES)
  })
})
