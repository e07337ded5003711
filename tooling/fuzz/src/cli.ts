#!/usr/bin/env node
/**
 * `pnet-fuzz [--runs N] [--seed S] [--only SUBSTRING]`: fuzzes every decoder (100,000 inputs each by default),
 * prints a table, exits 1 if any decoder failed (the failing inputs are printed in hex, to replay).
 */
import { parseArgs } from 'node:util'
import { allTargets, FULL_RUNS, fuzz } from './index.js'

const { values } = parseArgs({
  options: { runs: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' } },
})
const runs = values.runs === undefined ? FULL_RUNS : Number(values.runs)
const seed = values.seed === undefined ? Date.now() % 0x7fffffff : Number(values.seed)
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`)
const targets = allTargets.filter(t => values.only === undefined || t.name.includes(values.only))
process.stdout.write(`fuzzing ${targets.length} decoders, ${runs} inputs each, seed ${seed}\n\n`)
process.stdout.write(
  '| decoder | inputs | decoded | refused (typed) | failures | slowest input | heap growth | inputs/s |\n',
)
process.stdout.write('|---|---:|---:|---:|---:|---:|---:|---:|\n')
let failed = 0
for (const t of targets) {
  const r = await fuzz(t, { runs, seed })
  failed += r.failures.length > 0 ? 1 : 0
  process.stdout.write(
    `| ${r.name} | ${r.runs} | ${r.decoded} | ${r.rejected} | ${r.failures.length} | ${r.maxMs.toFixed(1)} ms | ` +
      `${(r.heapGrowthBytes / 2 ** 20).toFixed(1)} MiB | ${Math.round(r.runs / (r.elapsedMs / 1000))} |\n`,
  )
  for (const f of r.failures) process.stderr.write(`  FAIL ${r.name}\n  input ${f.input}\n  ${f.error}\n`)
}
process.stdout.write(`\n${failed === 0 ? 'no failures' : `${failed} decoder(s) failed`}\n`)
process.exit(failed === 0 ? 0 : 1)
