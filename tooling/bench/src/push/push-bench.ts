/**
 * The push benchmark (issue 8): one file to every host of a fleet with `ops-agent push` (bytes down the route tree),
 * and beside it, in the same run, `pdcp` (pdsh) and `ansible -m copy` over ssh to a farm of sshd on loopback with the
 * same host count. Same file for all three; every copy checked by sha256 after each run and removed before the next.
 * Prints a markdown table with ratios, one line per destination host, and the command that produced them.
 *
 *   node tooling/bench/dist/push/push-bench.js [--sizes-mib 10,100] [--hosts 20] [--runs 1] [--topology tree]
 *        [--branching 4] [--per-process 1] [--pdcp-fanout 32] [--ansible-forks 50]
 *        [--kex curve25519-sha256|default] [--no-pdcp] [--no-ansible] [--cpu-prof DIR] [--agents-cpu-prof DIR]
 *        [--quick]
 *
 * --quick: 10 MiB only. --cpu-prof: V8 profiles of the ops-agent controller; --agents-cpu-prof: of every agent
 * process (summarize either with dist/ops/profile-summary.js). --runs: rounds (the tools interleave in each); the run with the median time is shown.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { type Fleet, startFleet, type TopologyName } from '@pnet/fleet'
import { type SshFarm, startSshFarm } from '../ops/sshd.js'
import { ensureTools, versionOf } from '../ops/tools.js'
import { type AnsibleSetup, ansibleCopySetup, closeMasters } from './ansible.js'
import {
  ansibleCopy,
  childrenNamed,
  opsAgentPush,
  PDCP_REMOTE_WRAPPER,
  type PushMeasurement,
  pdcpPush,
  prepareDestinations,
  sha256File,
  sshTransferred,
  treeCpuMs,
  verifyAndClean,
} from './measure.js'
import { hostLines, type PushRow, pushTable } from './table.js'

const { values } = parseArgs({
  options: {
    'sizes-mib': { type: 'string' },
    hosts: { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    topology: { type: 'string', default: 'tree' },
    branching: { type: 'string', default: '4' },
    'per-process': { type: 'string', default: '1' },
    'pdcp-fanout': { type: 'string', default: '32' },
    'ansible-forks': { type: 'string', default: '50' },
    kex: { type: 'string', default: 'curve25519-sha256' },
    'no-pdcp': { type: 'boolean' },
    'no-ansible': { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    'agents-cpu-prof': { type: 'string' },
    quick: { type: 'boolean' },
  },
})
const quick = values.quick === true
const sizesMib = (values['sizes-mib'] ?? (quick ? '10' : '10,100')).split(',').map(Number)
const hosts = Number(values.hosts)
const runs = Number(values.runs)
const fanout = Number(values['pdcp-fanout'])
const forks = Number(values['ansible-forks'])
const agentsProf = values['agents-cpu-prof']
const kex = values.kex === 'default' ? undefined : values.kex
const log = (msg: string): void => {
  process.stderr.write(`[push-bench] ${msg}\n`)
}
const load = (): string =>
  loadavg()
    .map(l => l.toFixed(2))
    .join(' ')

const cleanups: (() => Promise<void>)[] = []
const work = mkdtempSync(join(tmpdir(), 'pnet-push-bench-'))
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
let withPdcp = values['no-pdcp'] !== true
let withAnsible = values['no-ansible'] !== true
const missing = ensureTools(
  [
    'time',
    ...(withPdcp || withAnsible ? (['sshd', 'ssh'] as const) : []),
    ...(withPdcp ? (['pdsh'] as const) : []),
    ...(withAnsible ? (['ansible'] as const) : []),
  ],
  log,
)
if (missing.has('time'))
  throw new Error('GNU time (/usr/bin/time, Debian package "time") is needed to measure the runs')
for (const [tool, why] of missing) {
  skipped.push(`${tool}: ${why}`)
  log(`skipping what needs ${tool}: ${why}`)
}
if (missing.has('sshd') || missing.has('ssh')) withPdcp = withAnsible = false
if (missing.has('pdsh')) withPdcp = false
if (missing.has('ansible')) withAnsible = false

/** A file of random bytes (incompressible, so no tool gains from compression). */
async function makeFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path)
  for (let left = bytes; left > 0; left -= 1 << 20) {
    if (!out.write(randomBytes(Math.min(1 << 20, left)))) await new Promise<void>(r => out.once('drain', () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
}

const medianOf = (ms: PushMeasurement[]): PushMeasurement =>
  [...ms].sort((a, b) => a.allDoneMs - b.allDoneMs)[Math.floor((ms.length - 1) / 2)]!

const rows: PushRow[] = []
const notes: string[] = []
const started = new Date()
const loadAtStart = load()
try {
  log(`${hosts} agents: starting the fleet (load ${load()})`)
  const t0 = performance.now()
  const fleet: Fleet = await startFleet({
    count: hosts,
    topology: values.topology as TopologyName,
    branching: Number(values.branching),
    agentsPerProcess: Number(values['per-process']),
    dir: join(work, 'fleet'),
    logLevel: 'error',
    // agents write their profiles when they exit, so a profiled fleet is stopped gracefully
    nodeArgs: agentsProf === undefined ? undefined : ['--cpu-prof', '--cpu-prof-dir', agentsProf],
  })
  cleanups.push(() => fleet.stop({ graceful: agentsProf !== undefined }))
  const depth = Math.max(...fleet.agents.map(a => a.depth))
  notes.push(
    `Fleet: ${hosts} agents, ${fleet.topology} (branching ${values.branching}, depth ${depth}; the controller joins through the root), ${fleet.agentsPerProcess} agent(s) per process, started and converged in ${((performance.now() - t0) / 1000).toFixed(1)} s.`,
  )
  let farm: SshFarm | undefined
  let ansible: AnsibleSetup | undefined
  const wrapper = join(work, 'pdcp-remote')
  if (withPdcp || withAnsible) {
    log(`${hosts} hosts: starting the sshd farm`)
    farm = await startSshFarm({ count: hosts, dir: join(work, 'ssh') })
    cleanups.push(() => farm!.stop())
    writeFileSync(wrapper, PDCP_REMOTE_WRAPPER, { mode: 0o755 })
    if (withAnsible) {
      mkdirSync(join(work, 'ansible'), { recursive: true })
      ansible = ansibleCopySetup(farm, { forks, kex, dir: join(work, 'ansible') })
      cleanups.push(() => closeMasters(farm!, ansible!))
    }
  }
  const keyFile = fleet.controller!.keyFile
  const agentHosts = fleet.agents.map(a => a.host)
  const dest = join(work, 'dest')
  const sshdPids = farm === undefined ? [] : childrenNamed('sshd')

  for (const mib of sizesMib) {
    if (interrupted) break
    const size = mib * 2 ** 20
    const local = join(work, `file-${mib}MiB.bin`)
    log(`${mib} MiB: writing the source file`)
    await makeFile(local, size)
    const sha256 = await sha256File(local)
    const name = `pushed-${mib}MiB.bin`
    const results: Record<PushMeasurement['kind'], PushMeasurement[]> = { 'ops-agent': [], pdcp: [], ansible: [] }
    for (let r = 0; r < runs && !interrupted; r++) {
      // ops-agent push
      {
        log(`${mib} MiB × ${hosts}: ops-agent push, run ${r + 1} (load ${load()})`)
        prepareDestinations(dest, agentHosts)
        const cpu0 = fleet.stats().reduce((a, p) => a + p.cpuMs, 0)
        const t = Date.now()
        const prof = values['cpu-prof']
        const res = await opsAgentPush({
          keyFile,
          via: fleet.root,
          local,
          remote: join(dest, '{host}', name),
          workDir: work,
          nodeArgs:
            prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(prof, `push-${mib}MiB-run${r + 1}`)],
        })
        const receivers = fleet.stats().reduce((a, p) => a + p.cpuMs, 0) - cpu0
        const copies = await verifyAndClean(dest, agentHosts, name, sha256, t, res.reported)
        const doneTimes = [...res.reported.values()]
        results['ops-agent'].push({
          kind: 'ops-agent',
          size,
          allDoneMs: doneTimes.length === hosts ? Math.max(...doneTimes) : res.exitMs,
          exitMs: res.exitMs,
          exitCode: res.exitCode,
          copies,
          wireOutBytes: res.io?.socketBytesOut,
          wireInBytes: res.io?.socketBytesIn,
          fileReadBytes: res.io?.fileBytesRead,
          cpuMs: res.cpuMs,
          maxRssMb: res.maxRssMb,
          receiversCpuMs: receivers,
          note:
            res.exitCode === 0
              ? undefined
              : `exit ${res.exitCode}: ${[...res.failures.slice(0, 2), res.stderr.trim().split('\n').pop() ?? ''].join(' / ')}`,
        })
      }
      if (farm !== undefined && withPdcp && !interrupted) {
        log(`${mib} MiB × ${hosts}: pdcp, run ${r + 1} (load ${load()})`)
        prepareDestinations(dest, farm.addrs)
        const sshLog = join(work, `pdcp-ssh-${mib}-${r}.log`)
        const cpu0 = treeCpuMs(sshdPids)
        const t = Date.now()
        const res = await pdcpPush({
          addrs: farm.addrs,
          sshConfig: farm.sshConfig,
          kex,
          fanout,
          wrapper,
          local,
          remote: join(dest, '{host}', name),
          sshLog,
        })
        await new Promise(r => setTimeout(r, 300)) // sshd reaps its sessions
        const receivers = treeCpuMs(sshdPids) - cpu0
        const copies = await verifyAndClean(dest, farm.addrs, name, sha256, t, new Map())
        const wire = sshTransferred(sshLog)
        rmSync(sshLog, { force: true })
        results.pdcp.push({
          kind: 'pdcp',
          size,
          allDoneMs: res.exitMs,
          exitMs: res.exitMs,
          exitCode: res.exitCode,
          copies,
          wireOutBytes: wire.connections === hosts ? wire.sent : undefined,
          wireInBytes: wire.connections === hosts ? wire.received : undefined,
          fileReadBytes: undefined,
          cpuMs: res.cpuMs,
          maxRssMb: res.maxRssMb,
          receiversCpuMs: receivers,
          note:
            res.exitCode === 0
              ? wire.connections === hosts
                ? undefined
                : `${wire.connections} ssh transfer lines for ${hosts} hosts`
              : `pdcp exit ${res.exitCode}: ${res.stderr.trim().split('\n').slice(0, 2).join(' / ')}`,
        })
      }
      if (farm !== undefined && ansible !== undefined && !interrupted) {
        log(`${mib} MiB × ${hosts}: ansible -m copy, run ${r + 1} (load ${load()})`)
        prepareDestinations(dest, farm.addrs)
        rmSync(ansible.sshLog, { force: true })
        const cpu0 = treeCpuMs(sshdPids)
        const t = Date.now()
        const res = await ansibleCopy({
          env: ansible.env,
          local,
          remote: join(dest, '{{ inventory_hostname }}', name),
        })
        await closeMasters(farm, ansible)
        const receivers = treeCpuMs(sshdPids) - cpu0
        const copies = await verifyAndClean(dest, farm.addrs, name, sha256, t, res.reported)
        const wire = sshTransferred(ansible.sshLog)
        const doneTimes = [...res.reported.values()]
        results.ansible.push({
          kind: 'ansible',
          size,
          allDoneMs: doneTimes.length === hosts ? Math.max(...doneTimes) : res.exitMs,
          exitMs: res.exitMs,
          exitCode: res.exitCode,
          copies,
          wireOutBytes: wire.connections >= hosts ? wire.sent : undefined,
          wireInBytes: wire.connections >= hosts ? wire.received : undefined,
          fileReadBytes: undefined,
          cpuMs: res.cpuMs,
          maxRssMb: res.maxRssMb,
          receiversCpuMs: receivers,
          note:
            res.exitCode === 0
              ? undefined
              : `ansible exit ${res.exitCode}: ${[...res.failures.slice(0, 2), res.stderr.trim().split('\n')[0] ?? ''].join(' / ')}`,
        })
      }
    }
    rmSync(local, { force: true })
    const kexNote = kex ?? 'OpenSSH default KEX'
    const label: Record<PushMeasurement['kind'], string> = {
      'ops-agent': `ops-agent push (CLI: start + join + push; ${fleet.topology}, branching ${values.branching})`,
      pdcp: `pdcp -R ssh -f ${fanout} (${kexNote})`,
      ansible: `ansible -m copy -f ${forks}, pipelining, ControlPersist (cold)`,
    }
    for (const kind of ['ops-agent', 'pdcp', 'ansible'] as const) {
      if (results[kind].length > 0)
        rows.push({ hosts, tool: label[kind], runs: results[kind].length, m: medianOf(results[kind]) })
    }
  }
  notes.push(`Load average (1/5/15 min) at the end of the runs: ${load()}.`)
} finally {
  await cleanup()
}

const command = `node ${relative(process.cwd(), process.argv[1]!)}${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`
const out = [
  `## ops-agent push benchmark — ${started.toISOString()}`,
  '',
  `Command: \`${command}\` (from ${process.cwd()})`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; load average (1/5/15 min) at start ${loadAtStart} — other engineers' test runs share this machine, and the numbers are what they were under that load.`,
  `Baselines: ${versionOf('ssh', ['-V'])}; ${withPdcp ? versionOf('pdsh', ['-V']) : 'pdcp skipped'}; ${withAnsible ? versionOf('ansible', ['--version']) : 'ansible skipped'}.`,
  '',
  pushTable(rows),
  '',
  '### Per host',
  '',
  hostLines(rows),
  '',
  '### Notes',
  '',
  ...notes.map(n => `- ${n}`),
  ...(skipped.length > 0 ? [`- Skipped: ${skipped.join('; ')}`] : []),
]
console.log(out.join('\n'))
process.exit(0)
