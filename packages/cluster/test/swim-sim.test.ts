/**
 * The membership protocol at 16 and 64 members in virtual time (sim/swim-sim.ts), with fixed seeds: every run is
 * exact and repeatable. Each test prints a one-line summary (the figures in the README's status section).
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_SWIM_CONFIG, suspicionFloor } from '../src/index.js'
import { createSwimSim, type SwimSim } from '../src/sim/index.js'

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!
}
const status = (sim: SwimSim, observer: number, member: number) =>
  sim.members[observer]!.machine.member(sim.members[member]!.id)?.status

function converged(size: number, seed: number, config = {}): SwimSim {
  const sim = createSwimSim({ size, seed, config })
  expect(sim.runUntil(() => sim.converged(), 120_000)).toBe(true)
  return sim
}

describe('membership simulation', () => {
  for (const size of [16, 64]) {
    // Bound: the first probe of the dead member comes within ~1 probe interval, independent confirmations
    // bring its suspicion timeout down to the floor (4.8 s at 16 members, 7.2 s at 64) within a few more, and the
    // `dead` gossip reaches everyone within ~1 s: floor + 5 intervals leaves room without hiding a regression to
    // the Lifeguard ceiling (6 × floor). Serf's measured 6.0–7.9 s at 16 members is the anchor (DESIGN.md).
    it(`${size} members: a crashed member (SIGKILL-like) is seen dead by every other within the bound`, () => {
      const all: number[] = []
      for (let seed = 1; seed <= (size === 16 ? 8 : 4); seed++) {
        const sim = converged(size, seed)
        const victim = (seed * 5) % size
        const seen = new Map<number, number>()
        const t0 = sim.now
        sim.onEvent((o, e) => {
          if (e.type === 'dead' && e.member.id === sim.members[victim]!.id && !seen.has(o)) seen.set(o, e.at - t0)
        })
        sim.crash(victim)
        sim.runFor(60_000)
        expect(seen.size).toBe(size - 1)
        all.push(...seen.values())
        // nobody else died
        for (let o = 0; o < size; o++) {
          for (let m = 0; m < size; m++)
            if (o !== victim && m !== victim && o !== m) expect(status(sim, o, m)).toBe('alive')
        }
      }
      const bound =
        suspicionFloor(DEFAULT_SWIM_CONFIG.suspicionMult, size, 1_000) + 5 * DEFAULT_SWIM_CONFIG.probeIntervalMs
      console.log(
        `crash, ${size} members: seen dead p50 ${quantile(all, 0.5).toFixed(0)} ms, p99 ${quantile(all, 0.99).toFixed(0)} ms, max ${Math.max(...all).toFixed(0)} ms (bound ${bound})`,
      )
      expect(Math.max(...all)).toBeLessThanOrEqual(bound)
    })
  }

  it('16 members on a network losing 5% of messages: no false deaths in 10 min, and a crash is still detected by all', () => {
    const sim = createSwimSim({ size: 16, seed: 11, loss: 0.05 })
    expect(sim.runUntil(() => sim.converged(), 120_000)).toBe(true)
    let falseDeaths = 0
    let crashed = -1
    const seen = new Set<number>()
    sim.onEvent((o, e) => {
      if (e.type !== 'dead') return
      if (e.member.id === sim.members[crashed]?.id) seen.add(o)
      else falseDeaths++
    })
    sim.runFor(600_000)
    crashed = 3
    sim.crash(3)
    sim.runFor(30_000)
    console.log(`5% loss, 16 members, 10 min: ${falseDeaths} false deaths; crash seen by ${seen.size} of 15`)
    expect(falseDeaths).toBe(0)
    expect(seen.size).toBe(15)
  })

  it('16 members: a partition (8 | 8) is detected on both sides, and after it heals both re-merge on their own', () => {
    for (const seed of [1, 2, 3]) {
      const sim = converged(16, seed)
      const a = [0, 1, 2, 3, 4, 5, 6, 7]
      const b = [8, 9, 10, 11, 12, 13, 14, 15]
      sim.partition([a, b])
      const split = () => a.every(i => b.every(j => status(sim, i, j) === 'dead' && status(sim, j, i) === 'dead'))
      expect(sim.runUntil(split, 120_000)).toBe(true)
      // inside each side nobody was lost
      for (const side of [a, b])
        for (const i of side) for (const j of side) if (i !== j) expect(status(sim, i, j)).toBe('alive')
      const healedAt = sim.now
      sim.heal()
      // reconnect (a push-pull to a random dead member every 10 s) finds the other side; both refute their deaths
      expect(sim.runUntil(() => sim.converged(), 60_000)).toBe(true)
      console.log(`partition, seed ${seed}: re-merged ${((sim.now - healedAt) / 1000).toFixed(1)} s after the heal`)
    }
  })

  it('a graceful leave is seen as left by everyone, never as dead', () => {
    const sim = converged(16, 4)
    const types: string[] = []
    sim.onEvent((_, e) => {
      if (e.member.id === sim.members[6]!.id) types.push(e.type)
    })
    sim.leave(6)
    sim.runFor(500)
    sim.crash(6) // the process exits after announcing
    sim.runFor(60_000)
    expect(types.filter(t => t === 'left')).toHaveLength(15)
    expect(types).not.toContain('dead')
    expect(types).not.toContain('suspect')
  })

  it('a member that restarts on a new address with the same peer ID is taken back with the new address', () => {
    const sim = converged(16, 5)
    sim.crash(9)
    sim.runFor(30_000) // long enough for everyone to see it dead
    expect(status(sim, 0, 9)).toBe('dead')
    sim.restart(9, { address: '/sim/9-restarted' })
    expect(sim.runUntil(() => sim.converged(), 30_000)).toBe(true)
    for (let o = 0; o < 16; o++) {
      if (o !== 9) expect(sim.members[o]!.machine.member(sim.members[9]!.id)!.address).toBe('/sim/9-restarted')
    }
    expect(sim.members[9]!.machine.incarnation).toBeGreaterThan(0) // it outbid its previous life's state
  })

  // 10% of the members (3 of 32) are stopped part of every cycle (SIGSTOP/SIGCONT), 3 seeds × 10 min, phases
  // differing per member. A false death is a member that never crashed declared dead (counted at the member whose
  // timer fired); a false suspicion likewise.
  const starve = (lifeguard: boolean, stopMs: number, cycleMs: number) => {
    let healthyDeaths = 0
    let starvedDeaths = 0
    let suspicions = 0
    for (const seed of [1, 2, 3]) {
      const sim = converged(32, seed, { lifeguard })
      const paused = [5, 17, 29]
      const starved = new Set(paused.map(p => sim.members[p]!.id))
      sim.onEvent((o, e) => {
        if (e.by !== sim.members[o]!.id) return
        if (e.type === 'suspect') suspicions++
        if (e.type === 'dead') {
          if (starved.has(e.member.id)) starvedDeaths++
          else healthyDeaths++
        }
      })
      const phase = paused.map((_, k) => (k * 1117 + seed * 733) % cycleMs)
      for (let t = 0; t < 600_000; t += 100) {
        paused.forEach((p, k) => {
          const x = (t + phase[k]!) % cycleMs
          if (x < stopMs && !sim.members[p]!.paused) sim.pause(p)
          if (x >= stopMs && sim.members[p]!.paused) sim.resume(p)
        })
        sim.runFor(100)
      }
    }
    return { healthyDeaths, starvedDeaths, suspicions }
  }

  it('10% of members stopped 2 s of every 3 s: no false deaths with Lifeguard or without; Lifeguard suspects less', () => {
    const on = starve(true, 2_000, 3_000)
    const off = starve(false, 2_000, 3_000)
    console.log(`stopped 2 s of 3 s: Lifeguard ${JSON.stringify(on)}, plain SWIM ${JSON.stringify(off)}`)
    expect(on).toMatchObject({ healthyDeaths: 0, starvedDeaths: 0 })
    expect(off.healthyDeaths).toBe(0)
    expect(on.suspicions).toBeLessThan(off.suspicions)
  })

  // Serf's anchor pattern (DESIGN.md: 2 members stopped 5 s of every 6 s, 0 false deaths for Serf). With the
  // gossip timer a resumed member's refutation outruns the suspicion timers in both modes, so plain SWIM has no
  // false deaths here either: the harness cannot show Lifeguard's advantage in deaths, only in suspicions.
  it('10% of members stopped 5 s of every 6 s: no false deaths (as Serf); Lifeguard suspects no more than plain SWIM', () => {
    const on = starve(true, 5_000, 6_000)
    const off = starve(false, 5_000, 6_000)
    console.log(`stopped 5 s of 6 s: Lifeguard ${JSON.stringify(on)}, plain SWIM ${JSON.stringify(off)}`)
    expect(on).toMatchObject({ healthyDeaths: 0, starvedDeaths: 0 })
    expect(off.healthyDeaths).toBe(0)
    expect(on.starvedDeaths).toBeLessThanOrEqual(off.starvedDeaths)
    expect(on.suspicions).toBeLessThanOrEqual(off.suspicions)
  })

  // The Lifeguard paper's case: members starved of CPU that still run their timers but handle what they receive
  // late, so their own probes seem to fail. Plain SWIM lets such a member accuse, and (when the refutation reaches
  // it after its suspicion timer) declare healthy members dead; Lifeguard's local health multiplier and lone-accuser
  // timeout keep it from doing so. 3 of 32 members slow, 2 seeds × 5 min.
  const slowRun = (lifeguard: boolean, delayMs: number) => {
    let healthyDeaths = 0
    let suspicions = 0
    for (const seed of [1, 2]) {
      const sim = converged(32, seed, { lifeguard })
      const slow = [5, 17, 29]
      const slowIds = new Set(slow.map(i => sim.members[i]!.id))
      sim.onEvent((o, e) => {
        if (e.by !== sim.members[o]!.id) return
        if (e.type === 'suspect') suspicions++
        if (e.type === 'dead' && !slowIds.has(e.member.id)) healthyDeaths++
      })
      for (const i of slow) sim.slow(i, delayMs)
      sim.runFor(300_000)
    }
    return { healthyDeaths, suspicions }
  }

  it('10% of members slow (messages handled 6 s late): plain SWIM declares healthy members dead, Lifeguard ≥ 50× fewer (none)', () => {
    const on = slowRun(true, 6_000)
    const off = slowRun(false, 6_000)
    console.log(`slow 6 s: Lifeguard ${JSON.stringify(on)}, plain SWIM ${JSON.stringify(off)}`)
    expect(on.healthyDeaths).toBe(0)
    expect(off.healthyDeaths).toBeGreaterThanOrEqual(50)
    expect(on.suspicions * 5).toBeLessThan(off.suspicions)
  })

  it('10% of members slow (messages handled 2 s late): no false deaths either way; Lifeguard suspects ≥ 3× less', () => {
    const on = slowRun(true, 2_000)
    const off = slowRun(false, 2_000)
    console.log(`slow 2 s: Lifeguard ${JSON.stringify(on)}, plain SWIM ${JSON.stringify(off)}`)
    expect(on.healthyDeaths).toBe(0)
    expect(off.healthyDeaths).toBe(0)
    expect(on.suspicions * 3).toBeLessThan(off.suspicions)
  })

  for (const size of [16, 64]) {
    it(`${size} members: a metadata update reaches everyone within ⌈log2 N⌉ + 3 probe rounds at p99 over 30 seeds`, () => {
      const rounds: number[] = []
      for (let seed = 1; seed <= 30; seed++) {
        const sim = converged(size, seed)
        sim.runFor(5_000)
        const who = seed % size
        const got = new Set<number>()
        const t0 = sim.now
        let last = 0
        sim.onEvent((o, e) => {
          if (e.type === 'update' && e.member.id === sim.members[who]!.id) {
            got.add(o)
            last = e.at - t0
          }
        })
        sim.updateMeta(who, { role: `r${seed}` })
        expect(sim.runUntil(() => got.size === size - 1, 120_000, 10)).toBe(true)
        rounds.push(last / DEFAULT_SWIM_CONFIG.probeIntervalMs)
      }
      const p99 = quantile(rounds, 0.99)
      console.log(`update, ${size} members: rounds p50 ${quantile(rounds, 0.5).toFixed(2)}, p99 ${p99.toFixed(2)}`)
      expect(p99).toBeLessThanOrEqual(Math.ceil(Math.log2(size)) + 3)
    })
  }
})
