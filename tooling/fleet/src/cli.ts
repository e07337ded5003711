#!/usr/bin/env node
/**
 * `fleet start`: starts a local fleet and keeps it up until SIGTERM or SIGINT, then tears it down.
 *
 *   node tooling/fleet/dist/cli.js start --count 20 [--topology tree] [--branching 3] [--seed 1] [--per-process N]
 *        [--trust PEER_ID …] [--tag key=value …] [--dir DIR] [--keepalive-ms N] [--link-timeout-ms N]
 *        [--log-level warn] [--json]
 *
 * Prints one `agent HOST PEER ADDR depth D pid P` line per agent, `controller-key FILE` when it made the key (no
 * --trust), then `root ADDR` — the address a controller joins through — and `ready N agents`.
 */
import { parseArgs } from 'node:util'
import { FleetConfigError } from './errors.js'
import { startFleet } from './fleet.js'
import { TOPOLOGIES, type TopologyName } from './topology.js'

const USAGE = `usage: fleet start --count N [--topology ${TOPOLOGIES.join('|')}] [--branching N] [--seed N]
                   [--per-process N] [--trust PEER_ID …] [--tag key=value …] [--dir DIR]
                   [--keepalive-ms N] [--link-timeout-ms N] [--log-level LEVEL] [--json]`

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new FleetConfigError(`--${name} must be a non-negative integer, got "${v}"`)
  return n
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command !== 'start') {
    process.stderr.write(`${USAGE}\n`)
    return command === undefined || command === '--help' || command === '-h' ? 0 : 2
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      count: { type: 'string' },
      topology: { type: 'string' },
      branching: { type: 'string' },
      seed: { type: 'string' },
      'per-process': { type: 'string' },
      trust: { type: 'string', multiple: true },
      tag: { type: 'string', multiple: true },
      dir: { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'link-timeout-ms': { type: 'string' },
      'log-level': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  })
  const count = int('count', values.count)
  if (count === undefined) throw new FleetConfigError('--count is required')
  const tags: Record<string, string> = {}
  for (const t of values.tag ?? []) {
    const eq = t.indexOf('=')
    if (eq <= 0) throw new FleetConfigError(`--tag "${t}" is not key=value`)
    tags[t.slice(0, eq)] = t.slice(eq + 1)
  }
  const keepalive = {
    intervalMs: int('keepalive-ms', values['keepalive-ms']),
    timeoutMs: int('link-timeout-ms', values['link-timeout-ms']),
  }
  const fleet = await startFleet({
    count,
    topology: (values.topology ?? 'tree') as TopologyName,
    branching: int('branching', values.branching),
    seed: int('seed', values.seed),
    agentsPerProcess: int('per-process', values['per-process']),
    trust: values.trust,
    tags: () => tags,
    dir: values.dir,
    keepalive: keepalive.intervalMs === undefined && keepalive.timeoutMs === undefined ? undefined : keepalive,
    logLevel: values['log-level'],
  })
  const out = (l: string): boolean => process.stdout.write(`${l}\n`)
  if (values.json === true) {
    out(
      JSON.stringify({ root: fleet.root, dir: fleet.dir, controller: fleet.controller ?? null, agents: fleet.agents }),
    )
  } else {
    for (const a of fleet.agents) out(`agent ${a.host} ${a.peer} ${a.addr} depth ${a.depth} pid ${a.pid}`)
    if (fleet.controller !== undefined) out(`controller-key ${fleet.controller.keyFile}`)
    out(`root ${fleet.root}`)
    out(`ready ${fleet.agents.length} agents`)
  }
  await new Promise<void>(resolve => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await fleet.stop()
  return 0
}

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`fleet: ${err.message}\n`)
    process.exitCode = err instanceof FleetConfigError || err.name === 'TypeError' ? 2 : 1
  },
)
