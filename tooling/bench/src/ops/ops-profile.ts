/**
 * Where ops-agent's time goes on a fan-out: a local fleet, a controller joined in this process, one warm-up run,
 * then `--runs` executions with the V8 CPU profiler on in the controller and in every agent worker process. Prints
 * the phases (inventory, dispatch by ID) and self time by package and function on each side.
 *
 *   node tooling/bench/dist/ops/ops-profile.js [--count 100] [--branching 8] [--per-process 25] [--runs 5]
 *        [--command true] [--out DIR]
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startFleet } from '@pnet/fleet'
import { loadOrCreateKey } from '@pnet/network'
import { execute, inventory, joinFleet, parseSelectors } from 'ops-agent'
import { quantile } from './measure.js'
import { report } from './profile-summary.js'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    branching: { type: 'string', default: '8' },
    'per-process': { type: 'string', default: '25' },
    runs: { type: 'string', default: '5' },
    command: { type: 'string', default: 'true' },
    out: { type: 'string' },
  },
})
const count = Number(values.count)
const runs = Number(values.runs)
const out = values.out ?? join(tmpdir(), `pnet-ops-profile-${Date.now()}`)
mkdirSync(out, { recursive: true })
const ms = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(0))

const fleet = await startFleet({
  count,
  topology: 'tree',
  branching: Number(values.branching),
  agentsPerProcess: Math.min(Number(values['per-process']), count),
  logLevel: 'error',
})
try {
  const key = await loadOrCreateKey(fleet.controller!.keyFile)
  let t = performance.now()
  const overlay = await joinFleet({ key, via: fleet.root })
  console.log(
    `joined: ${overlay.peers().length} agents routed in ${ms(performance.now() - t)} ms (load ${loadavg()[0]!.toFixed(2)})`,
  )
  t = performance.now()
  const first = await inventory(key, overlay, overlay.peers())
  console.log(`first inventory after the join: ${first.size}/${count} answered in ${ms(performance.now() - t)} ms`)
  const command = { argv: [values.command] }
  await execute({ key, fleet: overlay, selectors: parseSelectors(['*']), command }) // warm-up
  const ids = parseSelectors(overlay.peers().map(p => `id=${p}`))

  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  const phases: string[] = []
  await fleet.cpuProfile(out, async () => {
    for (let r = 0; r < runs; r++) {
      t = performance.now()
      const inv = await inventory(key, overlay, overlay.peers())
      const invMs = performance.now() - t
      const lat: number[] = []
      t = performance.now()
      const run = await execute({
        key,
        fleet: overlay,
        selectors: ids,
        command,
        events: { done: () => lat.push(performance.now() - t) },
      })
      lat.sort((a, b) => a - b)
      phases.push(
        `run ${r + 1}: inventory ${inv.size} in ${ms(invMs)} ms; dispatch by id ${run.summary.ok}/${run.summary.targeted} ok, ` +
          `first ${ms(lat[0])} p50 ${ms(quantile(lat, 0.5))} p99 ${ms(quantile(lat, 0.99))} last ${ms(lat.at(-1))} ms`,
      )
    }
  })
  const { profile } = await session.post('Profiler.stop')
  session.disconnect()
  const controllerFile = join(out, 'controller.cpuprofile')
  writeFileSync(controllerFile, JSON.stringify(profile))
  await overlay.close()
  console.log(phases.join('\n'))
  console.log(
    `\n== controller (this process; the fleet's orchestration here is idle) ==\n${report([controllerFile], 25)}`,
  )
  const workerFiles = readdirSync(out)
    .filter(f => f.startsWith('worker-') && f.endsWith('.cpuprofile'))
    .map(f => join(out, f))
  console.log(`\n== agents (${count} in ${workerFiles.length} worker processes) ==\n${report(workerFiles, 40)}`)
  console.log(
    `\nprofiles in ${out} (open in Chrome DevTools → Performance, or node tooling/bench/dist/ops/profile-summary.js)`,
  )
} finally {
  await fleet.stop({ graceful: false })
}
process.exit(0)
