#!/usr/bin/env node
/**
 * Long fault run: seeds through the simulator, each history through the linearizability checker.
 *   npm run fault-seeds                       # seeds 1..1000
 *   npm run fault-seeds -- --from 5000 --count 200
 *   npm run fault-seeds -- --seed 123 --trace # replay one seed with the fault trace
 *   npm run fault-seeds -- --unsafe staleLeaderReads --count 50   # a broken build, expect violations
 * Exit code 1 when any seed has a violation.
 */
import { parseArgs } from 'node:util'
import { runSimulation } from '../dist/testing.js'

const { values } = parseArgs({
  // `pnpm run fault-seeds -- --seed 3` passes the `--` through
  args: process.argv.slice(2).filter(a => a !== '--'),
  options: {
    seed: { type: 'string' },
    from: { type: 'string', default: '1' },
    count: { type: 'string', default: '1000' },
    trace: { type: 'boolean', default: false },
    unsafe: { type: 'string' },
    duration: { type: 'string' },
    members: { type: 'string' },
    codec: { type: 'boolean', default: false },
  },
})
const seeds =
  values.seed !== undefined
    ? [Number(values.seed)]
    : Array.from({ length: Number(values.count) }, (_, i) => Number(values.from) + i)
const unsafe = values.unsafe === undefined ? undefined : { [values.unsafe]: true }
const durationMs = values.duration === undefined ? undefined : Number(values.duration)
let bad = 0
let ops = 0
let ambiguous = 0
const started = Date.now()
for (const seed of seeds) {
  const members = values.members === undefined ? undefined : Number(values.members)
  const r = runSimulation({ seed, unsafe, durationMs, members, codec: values.codec, trace: values.trace })
  ops += r.history.length
  ambiguous += r.stats.ambiguous
  if (values.trace) for (const line of r.trace) console.log(line)
  if (r.violations.length > 0 || r.check.result !== 'ok') {
    bad++
    console.log(`seed ${seed}: ${r.check.result}; ${r.violations.join('; ')}`)
    console.log(
      `  replay: pnpm --filter @pnet/raft run fault-seeds -- --seed ${seed} --trace${values.unsafe ? ` --unsafe ${values.unsafe}` : ''}`,
    )
  } else if (seeds.length === 1) {
    console.log(`seed ${seed}: ok`, r.stats)
  }
}
const secs = ((Date.now() - started) / 1000).toFixed(1)
console.log(
  `${seeds.length} seeds, ${bad} with violations, ${ops} operations checked (${ambiguous} ambiguous), ${secs} s`,
)
process.exit(bad > 0 ? 1 : 0)
