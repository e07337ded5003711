#!/usr/bin/env node
// Runs `npm run demo` N times in a row (default 30) from the repository root and prints one line per run (exit code,
// wall time, the reachable count and the summary line), then the tally. Exit 1 if any run failed.
//
//   node tooling/demo/scripts/loop.mjs [N]
import { spawnSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const runs = Number(process.argv[2] ?? 30)
let failed = 0
const times = []
for (let i = 1; i <= runs; i++) {
  const started = performance.now()
  const r = spawnSync('npm', ['run', '--silent', 'demo'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  const secs = (performance.now() - started) / 1000
  times.push(secs)
  const out = r.stdout ?? ''
  const reach = /\((\d+) agents reachable[^)]*\)/.exec(out)?.[0] ?? '(no reachable line)'
  const summary = /^\d+ hosts: .*$/m.exec(out)?.[0] ?? '(no summary line)'
  const code = r.status ?? 1
  if (code !== 0) failed++
  process.stdout.write(`run ${String(i).padStart(2)}  rc=${code}  ${secs.toFixed(2)} s  ${reach}  ${summary}\n`)
  if (code !== 0) process.stdout.write(`${out}${r.stderr ?? ''}\n`)
}
times.sort((a, b) => a - b)
const median = times[Math.floor(times.length / 2)] ?? 0
process.stdout.write(
  `${runs - failed}/${runs} passed; wall time median ${median.toFixed(2)} s, max ${(times.at(-1) ?? 0).toFixed(2)} s\n`,
)
process.exit(failed === 0 ? 0 : 1)
