import { describe, expect, it } from 'vitest'
import { runSimulation, type SimOptions, type SimResult } from '../src/testing.js'

const replay = (r: SimResult, extra = '') =>
  `seed ${r.seed}: ${r.violations.join('; ')}\n  replay: pnpm --filter @pnet/raft run fault-seeds -- --seed ${r.seed} --trace${extra}`

function runSeeds(from: number, count: number, options: Omit<SimOptions, 'seed'> = {}) {
  const failures: string[] = []
  const totals = {
    ok: 0,
    okAfterHeal: 0,
    ambiguous: 0,
    elections: 0,
    crashes: 0,
    confChanges: 0,
    confCommitted: 0,
    dropped: 0,
    recovered: 0,
  }
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation({ seed, ...options })
    if (r.violations.length > 0 || r.check.result !== 'ok') {
      const text = replay({ ...r, violations: [...r.violations, `checker: ${r.check.result}`] })
      console.error(text)
      failures.push(text)
    }
    totals.ok += r.stats.ok
    totals.okAfterHeal += r.stats.okAfterHeal
    totals.ambiguous += r.stats.ambiguous
    totals.elections += r.stats.elections
    totals.crashes += r.stats.crashes
    totals.confChanges += r.stats.confChanges
    totals.confCommitted += r.stats.confCommitted
    totals.dropped += r.stats.dropped
    if (r.stats.okAfterHeal > 0) totals.recovered++
  }
  return { failures, totals }
}

describe('seeded fault runs', () => {
  it('120 seeds, 5 members, every fault: zero invariant violations, every history linearizable, the group recovers', () => {
    const { failures, totals } = runSeeds(1, 120)
    console.log('120 seeds:', totals)
    expect(failures).toEqual([])
    // the runs really exercised faults (a simulator that never fails anything proves nothing)
    expect(totals.crashes).toBeGreaterThan(100)
    expect(totals.confChanges).toBeGreaterThan(50)
    expect(totals.confCommitted).toBeGreaterThan(50)
    expect(totals.ambiguous).toBeGreaterThan(100)
    expect(totals.elections).toBeGreaterThan(300)
    expect(totals.ok).toBeGreaterThan(20_000)
    // liveness: once the faults stop, a leader serves clients again in (nearly) every seed
    expect(totals.recovered).toBeGreaterThanOrEqual(114)
  })

  it('40 seeds, 3 members, 20% loss and 10% duplication: zero violations', () => {
    const { failures } = runSeeds(1001, 40, { members: 3, faults: { loss: 0.2, duplicate: 0.1, delayMs: [1, 40] } })
    expect(failures).toEqual([])
  })

  it('the same seed replays the same run', () => {
    const a = runSimulation({ seed: 77 })
    const b = runSimulation({ seed: 77 })
    expect(b.history).toEqual(a.history)
    expect(b.stats).toEqual(a.stats)
  })
})
