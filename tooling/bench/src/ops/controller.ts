/**
 * The controller side of the ops benchmark, in a process of its own so its CPU and memory are its own: joins the
 * fleet through one agent (as `ops-agent exec` does), then runs the command `--runs` times on every agent and prints
 * one JSON line with the timings of each run. A first, uncounted run (`--warmup`) takes the costs that belong to
 * the first command after a join (routes back to the controller still spreading, code not yet compiled).
 *
 *   node dist/ops/controller.js --key FILE --via ADDR --runs 3 [--warmup 1] -- CMD [ARGS …]
 */
import { parseArgs } from 'node:util'
import { loadOrCreateKey } from '@pnet/network'
import { execute, joinFleet, parseSelectors } from 'ops-agent'

export interface ControllerRun {
  /** execute() start to its last host result, ms */
  totalMs: number
  /** per-host time from execute() start to that host's result, ms, sorted */
  latenciesMs: number[]
  ok: number
  targeted: number
  /** controller CPU (user + system) during the run, ms */
  cpuMs: number
}

export interface ControllerReport {
  joinMs: number
  /** agents in the routing table after the join */
  reachable: number
  joinCpuMs: number
  runs: ControllerRun[]
  /** the uncounted warm-up runs */
  warmup: ControllerRun[]
  /** peak RSS of the controller process, MB */
  maxRssMb: number
}

const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { key: { type: 'string' }, via: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' } },
    allowPositionals: true,
  })
  const key = await loadOrCreateKey(values.key!)
  const runs = Number(values.runs ?? '3')
  const warmup = Number(values.warmup ?? '1')
  const cpu0 = cpuMs()
  const t0 = performance.now()
  const fleet = await joinFleet({ key, via: values.via! })
  const report: ControllerReport = {
    joinMs: performance.now() - t0,
    reachable: fleet.peers().length,
    joinCpuMs: cpuMs() - cpu0,
    runs: [],
    warmup: [],
    maxRssMb: 0,
  }
  try {
    for (let r = -warmup; r < runs; r++) {
      const latencies: number[] = []
      const c0 = cpuMs()
      const started = performance.now()
      const run = await execute({
        key,
        fleet,
        selectors: parseSelectors(['*']),
        command: { argv: positionals },
        events: { done: () => latencies.push(performance.now() - started) },
      })
      ;(r < 0 ? report.warmup : report.runs).push({
        totalMs: performance.now() - started,
        latenciesMs: latencies.sort((a, b) => a - b),
        ok: run.summary.ok,
        targeted: run.summary.targeted,
        cpuMs: cpuMs() - c0,
      })
    }
  } finally {
    await fleet.close()
  }
  report.maxRssMb = process.resourceUsage().maxRSS / 1024
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`controller: ${err.stack ?? err.message}\n`)
    process.exit(1)
  },
)
