/**
 * The ops benchmark (issue 7): `true` and `hostname` on 10 / 100 / 500 agents with ops-agent, and beside it, in the
 * same run, pdsh over ssh and `ansible -m command` against a farm of sshd on loopback reaching the same number of
 * hosts (127.0.x.y). Prints a markdown table with ratios and the targets, and the command that produced it.
 *
 *   node tooling/bench/dist/ops/ops-bench.js [--sizes 10,100,500] [--commands true,hostname] [--runs 3]
 *        [--runs-large 1] [--topology tree] [--branching 8] [--per-process 25] [--pdsh-fanout 32]
 *        [--ansible-forks 50] [--kex curve25519-sha256|default] [--no-pdsh] [--no-ansible] [--cpu-prof DIR] [--quick]
 *        [--cli release|repo]
 *
 * --runs: runs per tool and cell (the median run is shown); --runs-large: runs of the baselines above 100 hosts
 * (Ansible on 500 hosts takes minutes a run on two cores). --cli: which ops-agent CLI is timed — the release artifact
 * (`npm run build:agent`, what ships; default) or the workspace's unbundled build.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { type Fleet, startFleet, type TopologyName } from '@pnet/fleet'
import {
  ansibleRun,
  ansibleSetup,
  joinedControllerRuns,
  type Measurement,
  medianRun,
  opsAgentCliRun,
  pdshRun,
  repoCli,
} from './measure.js'
import { idleAgentRss, releaseCli } from './release.js'
import { type SshFarm, startSshFarm } from './sshd.js'
import { type Row, table, targets } from './table.js'
import { ensureTools, versionOf } from './tools.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string' },
    commands: { type: 'string', default: 'true,hostname' },
    runs: { type: 'string' },
    'runs-large': { type: 'string', default: '1' },
    topology: { type: 'string', default: 'tree' },
    branching: { type: 'string', default: '8' },
    'per-process': { type: 'string', default: '25' },
    'pdsh-fanout': { type: 'string', default: '32' },
    'ansible-forks': { type: 'string', default: '50' },
    kex: { type: 'string', default: 'curve25519-sha256' },
    'no-pdsh': { type: 'boolean' },
    'no-ansible': { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    quick: { type: 'boolean' },
    cli: { type: 'string', default: 'release' },
  },
})
const quick = values.quick === true
const sizes = (values.sizes ?? (quick ? '10' : '10,100,500')).split(',').map(Number)
const commands = values.commands.split(',').map(c => [c])
const runs = Number(values.runs ?? (quick ? '1' : '3'))
const runsLarge = Number(values['runs-large'])
const perProcess = Number(values['per-process'])
const fanout = Number(values['pdsh-fanout'])
const forks = Number(values['ansible-forks'])
const kex = values.kex === 'default' ? undefined : values.kex
const log = (msg: string): void => {
  process.stderr.write(`[ops-bench] ${msg}\n`)
}
const load = (): string =>
  loadavg()
    .map(l => l.toFixed(2))
    .join(' ')

// everything below is ours to tear down, whatever happens
const cleanups: (() => Promise<void>)[] = []
const work = mkdtempSync(join(tmpdir(), 'pnet-ops-bench-'))
cleanups.push(async () => rmSync(work, { recursive: true, force: true }))
let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true
    log(`${sig}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })
}
async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(err => log(`cleanup: ${(err as Error).message}`))
}

const skipped: string[] = []
let withPdsh = values['no-pdsh'] !== true
let withAnsible = values['no-ansible'] !== true
if (withPdsh || withAnsible) {
  const missing = ensureTools(
    ['sshd', 'ssh', 'time', ...(withPdsh ? (['pdsh'] as const) : []), ...(withAnsible ? (['ansible'] as const) : [])],
    log,
  )
  for (const [tool, why] of missing) {
    skipped.push(`${tool}: ${why}`)
    log(`skipping what needs ${tool}: ${why}`)
  }
  if (missing.has('sshd') || missing.has('ssh') || missing.has('time')) withPdsh = withAnsible = false
  if (missing.has('pdsh')) withPdsh = false
  if (missing.has('ansible')) withAnsible = false
} else if (ensureTools(['time'], log).size > 0) {
  throw new Error('GNU time (/usr/bin/time, Debian package "time") is needed to measure the CLI runs')
}

const rows: Row[] = []
const notes: string[] = []
let idleShared: { hosts: number; mbPerAgent: number[] } = { hosts: 0, mbPerAgent: [] }
let idleDedicated: number[] = []

async function runSize(hosts: number): Promise<void> {
  log(`${hosts} agents: starting the fleet (load ${load()})`)
  const loadBefore = load()
  const t0 = performance.now()
  const fleet: Fleet = await startFleet({
    count: hosts,
    topology: values.topology as TopologyName,
    branching: Number(values.branching),
    agentsPerProcess: Math.min(perProcess, hosts),
    dir: join(work, `fleet-${hosts}`),
    logLevel: 'error',
  })
  cleanups.push(() => fleet.stop({ graceful: false }))
  const maxDepth = Math.max(...fleet.agents.map(a => a.depth))
  notes.push(
    `${hosts} agents: ${fleet.topology} (branching ${values.branching}, depth ${maxDepth}, controller ${maxDepth + 1} hops from the farthest), ` +
      `${fleet.agentsPerProcess} agents per process, started and converged in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  )
  await new Promise(r => setTimeout(r, 3_000)) // idle: keepalives only
  const stats = fleet.stats()
  idleShared = { hosts, mbPerAgent: stats.map(s => s.rssBytes / s.agents / 2 ** 20) }
  const keyFile = fleet.controller!.keyFile

  let farm: SshFarm | undefined
  let ansibleEnv: NodeJS.ProcessEnv | undefined
  if (withPdsh || withAnsible) {
    log(`${hosts} hosts: starting the sshd farm`)
    farm = await startSshFarm({ count: hosts, dir: join(work, `ssh-${hosts}`) })
    cleanups.push(() => farm!.stop())
    if (withAnsible) ansibleEnv = ansibleSetup(farm, { forks, kex })
  }
  const baselineRuns = hosts > 100 ? runsLarge : runs
  for (const command of commands) {
    if (interrupted) return
    const cmd = command.join(' ')
    const results: Record<string, Measurement[]> = { cli: [], pdsh: [], ansible: [] }
    let ansibleCold: Measurement | undefined
    if (ansibleEnv !== undefined) {
      log(`${hosts} × ${cmd}: ansible, cold (ControlPersist masters not yet up)`)
      ansibleCold = await ansibleRun(farm!, ansibleEnv, command)
    }
    // rounds interleave the tools so that a burst of load from elsewhere hits them alike
    for (let r = 0; r < Math.max(runs, baselineRuns); r++) {
      if (interrupted) return
      if (r < runs) {
        log(`${hosts} × ${cmd}: ops-agent exec (CLI), run ${r + 1}`)
        results.cli!.push(await opsAgentCliRun(keyFile, fleet.root, command, hosts, cli))
      }
      if (r < baselineRuns && farm !== undefined && withPdsh) {
        log(`${hosts} × ${cmd}: pdsh, run ${r + 1}`)
        results.pdsh!.push(await pdshRun(farm, command, { fanout, kex }))
      }
      if (r < baselineRuns && ansibleEnv !== undefined) {
        log(`${hosts} × ${cmd}: ansible, run ${r + 1}`)
        results.ansible!.push(await ansibleRun(farm!, ansibleEnv, command))
      }
    }
    log(`${hosts} × ${cmd}: ops-agent execute() on a joined controller, ${runs} runs`)
    const prof = values['cpu-prof'] === undefined ? undefined : join(values['cpu-prof'], `controller-${hosts}-${cmd}`)
    const joined = await joinedControllerRuns(keyFile, fleet.root, command, runs, prof)
    const kexNote = kex ?? 'OpenSSH default KEX'
    rows.push(
      {
        hosts,
        cmd,
        tool: `ops-agent exec (CLI, ${cli.label}: start + join + run)`,
        m: medianRun(results.cli!),
        runs: runs,
        kind: 'cli',
      },
      {
        hosts,
        cmd,
        tool: `ops-agent execute(), joined (not counted: join ${joined.report.joinMs.toFixed(0)} ms, first run after it ${((joined.warmup[0]?.allResultsMs ?? 0) / 1000).toFixed(2)} s)`,
        m: medianRun(joined.runs),
        runs,
        kind: 'joined',
      },
    )
    if (results.pdsh!.length > 0) {
      rows.push({
        hosts,
        cmd,
        tool: `pdsh -R ssh -f ${fanout} (${kexNote})`,
        m: medianRun(results.pdsh!),
        runs: baselineRuns,
        kind: 'pdsh',
      })
    }
    if (results.ansible!.length > 0) {
      rows.push({
        hosts,
        cmd,
        tool: `ansible -m command -f ${forks}, pipelining, ControlPersist warm (cold run: ${(ansibleCold!.allResultsMs / 1000).toFixed(1)} s)`,
        m: medianRun(results.ansible!),
        runs: baselineRuns,
        kind: 'ansible',
      })
    }
  }
  notes.push(`${hosts} hosts: load average before ${loadBefore}, after ${load()}`)
  // both stops are idempotent: the cleanup list may call them again
  await farm?.stop()
  await fleet.stop({ graceful: false })
}

/** RSS of real `ops-agent agent` processes of the timed CLI (one agent each, as on a fleet host), idle after joining. */
async function idleDedicatedRss(): Promise<number[]> {
  const key = join(work, 'idle.key')
  const id = execFileSync(cli.file, [...cli.args, 'keygen', '--key', key], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!
  return idleAgentRss(cli, work, id)
}

if (values.cli !== 'release' && values.cli !== 'repo')
  throw new Error(`--cli must be release or repo, not ${values.cli}`)
const cli = values.cli === 'release' ? await releaseCli(work) : repoCli()
log(`timing the ops-agent CLI: ${cli.label} (${cli.file})`)
const started = new Date()
const loadAtStart = load()
try {
  for (const size of sizes) {
    if (interrupted) break
    await runSize(size)
  }
  if (!interrupted) idleDedicated = await idleDedicatedRss()
} finally {
  await cleanup()
}

const command = `node ${relative(process.cwd(), process.argv[1]!)}${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`
const header = [
  `## ops benchmark — ${started.toISOString()}`,
  '',
  `Command: \`${command}\` (from ${process.cwd()})`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; load average (1/5/15 min) at start ${loadAtStart}, at end ${load()} — other engineers' tests share this machine.`,
  `Baselines: ${versionOf('ssh', ['-V'])}; ${withPdsh ? versionOf('pdsh', ['-V']) : 'pdsh skipped'}; ${withAnsible ? versionOf('ansible', ['--version']) : 'ansible skipped'}.`,
  '',
]
const out = [
  ...header,
  table(rows),
  '',
  targets(rows, idleDedicated, idleShared),
  '',
  '### Notes',
  '',
  ...notes.map(n => `- ${n}`),
  `- Time columns are from the tool's start: \`all results\` is the last host's result, \`exit\` the process exit; per-host latency is when each host's result appeared (pdsh shows none for \`true\`, which prints nothing). The joined-controller row starts at execute() — the same agents, controller already in the overlay (its join and its first run after the join excluded, both shown in the label); it includes the inventory broadcast that resolves \`*\`.`,
  `- CPU and max RSS: GNU time on the tool's process and the children it reaped (pdsh's ssh processes, ansible's forks; not ControlPersist masters, which detach); for the joined controller its own process.cpuUsage() during the run and its peak RSS. Agents and sshd are not counted on either side.`,
  `- sshd farm: OpenSSH sshd, ${Math.ceil(Math.max(...sizes) / 16)} daemons of up to 16 loopback addresses each (sshd's MAX_LISTEN_SOCKS), key auth, UsePAM no, UseDNS no, MaxStartups 1000, sessions with an empty HOME (this machine's ~/.bashrc runs pyenv init, ~0.2 s per login, which a fleet host would not).`,
  `- Baselines' SSH key exchange: ${kex ?? 'OpenSSH default (sntrup761x25519-sha512)'}${kex === undefined ? '' : ' — chosen over the OpenSSH 9.2 default sntrup761x25519-sha512, which costs ~0.15 s of client CPU per connection on this machine, so the baselines are shown at their fastest'}. pdsh fanout ${fanout} (its default is 32; 64 and 128 were slower on 2 cores). Ansible: forks ${forks}, pipelining on, ControlMaster=auto with ControlPersist=60s (the row is the warm case; the cold run is in its label), interpreter pinned to /usr/bin/python3, host key checking on (known_hosts pinned).`,
  `- ops-agent agents run the command directly (argv, no shell); pdsh and ansible's command module start it through a remote shell / python respectively — which is what each tool does in production.`,
  ...(skipped.length > 0 ? [`- Skipped: ${skipped.join('; ')}`] : []),
]
console.log(out.join('\n'))
process.exit(0)
