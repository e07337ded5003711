/**
 * One measurement per tool, all in the same shape: time to all results, time to exit, per-host latency, controller
 * CPU and memory, and how many hosts answered correctly.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { opsAgentCli } from '@pnet/fleet'
import type { ControllerReport } from './controller.js'
import type { SshFarm } from './sshd.js'
import { type Line, timed } from './timed.js'

export interface Measurement {
  /** start to the last host's result, ms */
  allResultsMs: number
  /** start to the tool's exit, ms (undefined where the tool does not exit: the joined controller) */
  exitMs: number | undefined
  /** per-host time from start to that host's result, ms, sorted; empty when the tool shows no per-host moment */
  latenciesMs: number[]
  cpuMs: number
  maxRssMb: number
  /** hosts that returned the expected result */
  ok: number
  hosts: number
  note?: string
}

/** `q`-quantile (0…1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** The run with the median time to all results (so its p50/p99, CPU and RSS belong together). */
export function medianRun(runs: Measurement[]): Measurement {
  const sorted = [...runs].sort((a, b) => a.allResultsMs - b.allResultsMs)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}

const TIMEOUT_MS = 15 * 60_000

/** How to start the ops-agent CLI: the file to run and the arguments before the subcommand. */
export interface CliCommand {
  file: string
  args: string[]
  /** for the table */
  label: string
}

/** The workspace's CLI (apps/ops-agent/dist, unbundled ESM), run by this Node. */
export function repoCli(): CliCommand {
  return { file: process.execPath, args: [opsAgentCli()], label: 'repo build' }
}

function expectOutput(command: string[], text: string): boolean {
  // `true` prints nothing; `hostname` prints the machine's name — every "host" here is this machine
  return command[0] === 'hostname' ? text.trim().length > 0 : true
}

/** `ops-agent exec --json` as an operator runs it: process start, join through the root, dispatch, results, exit. */
export async function opsAgentCliRun(
  keyFile: string,
  via: string,
  command: string[],
  hosts: number,
  cli: CliCommand = repoCli(),
): Promise<Measurement> {
  const args = [...cli.args, 'exec', '--key', keyFile, '--via', via, '--target', '*', '--json', '--', ...command]
  const r = await timed(cli.file, args, { env: process.env, timeoutMs: TIMEOUT_MS })
  const results: { line: Line; status: string; stdout: string }[] = []
  for (const line of r.lines) {
    if (!line.text.startsWith('{"peer"')) continue
    const j = JSON.parse(line.text) as { status: string; stdout: string }
    results.push({ line, status: j.status, stdout: j.stdout })
  }
  return {
    allResultsMs: Math.max(0, ...results.map(x => x.line.t)),
    exitMs: r.wallMs,
    latenciesMs: results.map(x => x.line.t).sort((a, b) => a - b),
    cpuMs: r.cpuMs,
    maxRssMb: r.maxRssMb,
    ok: results.filter(x => x.status === 'ok' && expectOutput(command, x.stdout)).length,
    hosts,
    note: r.exitCode === 0 ? undefined : `exit ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`,
  }
}

/**
 * The library controller already joined (controller.ts in its own process): `runs` executions, each from execute()
 * to the last result, no process start and no join in them.
 */
export async function joinedControllerRuns(
  keyFile: string,
  via: string,
  command: string[],
  runs: number,
  cpuProfDir: string | undefined,
): Promise<{ report: ControllerReport; runs: Measurement[]; warmup: Measurement[] }> {
  const entry = join(import.meta.dirname, 'controller.js')
  const node = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]
  const child = spawn(
    process.execPath,
    [...node, entry, '--key', keyFile, '--via', via, '--runs', String(runs), '--', ...command],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  if (code !== 0) throw new Error(`controller exited ${code}: ${err.trim()}`)
  const report = JSON.parse(out.trim().split('\n').pop()!) as ControllerReport
  const toMeasurement = (r: ControllerReport['runs'][number]): Measurement => ({
    allResultsMs: r.totalMs,
    exitMs: undefined,
    latenciesMs: r.latenciesMs,
    cpuMs: r.cpuMs,
    maxRssMb: report.maxRssMb,
    ok: r.ok,
    hosts: r.targeted,
  })
  return { report, runs: report.runs.map(toMeasurement), warmup: report.warmup.map(toMeasurement) }
}

/** pdsh over ssh to every farm host. */
export async function pdshRun(
  farm: SshFarm,
  command: string[],
  opts: { fanout: number; kex: string | undefined },
): Promise<Measurement> {
  const kex = opts.kex === undefined ? '' : ` -o KexAlgorithms=${opts.kex}`
  const env = { ...process.env, PDSH_SSH_ARGS: `-F ${farm.sshConfig}${kex} -l%u %h`, PDSH_RCMD_TYPE: 'ssh' }
  const r = await timed('pdsh', ['-R', 'ssh', '-f', String(opts.fanout), '-w', farm.addrs.join(','), ...command], {
    env,
    timeoutMs: TIMEOUT_MS,
  })
  const seen = new Map<string, number>()
  for (const line of r.lines) {
    const m = /^(127\.[\d.]+): (.*)$/.exec(line.text)
    if (m !== null && !seen.has(m[1]!)) seen.set(m[1]!, line.t)
  }
  const printsPerHost = command[0] === 'hostname'
  return {
    allResultsMs: r.wallMs,
    exitMs: r.wallMs,
    latenciesMs: printsPerHost ? [...seen.values()].sort((a, b) => a - b) : [],
    cpuMs: r.cpuMs,
    maxRssMb: r.maxRssMb,
    // pdsh exits non-zero when any host failed (ssh error or command exit code), naming the host on stderr
    ok: printsPerHost ? seen.size : r.exitCode === 0 ? farm.addrs.length : 0,
    hosts: farm.addrs.length,
    note:
      r.exitCode === 0 ? undefined : `pdsh exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(0, 2).join(' / ')}`,
  }
}

/** Writes the Ansible config and inventory for the farm; returns the environment that selects them. */
export function ansibleSetup(farm: SshFarm, opts: { forks: number; kex: string | undefined }): NodeJS.ProcessEnv {
  const dir = join(farm.dir, 'ansible')
  mkdirSync(join(dir, 'cp'), { recursive: true })
  const kex = opts.kex === undefined ? '' : ` -o KexAlgorithms=${opts.kex}`
  writeFileSync(join(dir, 'inventory.ini'), ['[fleet]', ...farm.addrs, ''].join('\n'))
  writeFileSync(
    join(dir, 'ansible.cfg'),
    [
      '[defaults]',
      `inventory = ${join(dir, 'inventory.ini')}`,
      `forks = ${opts.forks}`,
      'host_key_checking = True',
      // production inventories pin the interpreter; discovery would cost an extra round trip per host
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${join(dir, 'local-tmp')}`,
      `remote_tmp = ${join(dir, 'remote-tmp')}`,
      'nocolor = True',
      'retry_files_enabled = False',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = -F ${farm.sshConfig} -o ControlMaster=auto -o ControlPersist=60s${kex}`,
      `control_path_dir = ${join(dir, 'cp')}`,
      '',
    ].join('\n'),
  )
  return { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' }
}

/** `ansible all -m command -a CMD`. */
export async function ansibleRun(farm: SshFarm, env: NodeJS.ProcessEnv, command: string[]): Promise<Measurement> {
  const r = await timed('ansible', ['all', '-m', 'command', '-a', command.join(' ')], { env, timeoutMs: TIMEOUT_MS })
  const seen = new Map<string, { t: number; ok: boolean }>()
  for (const line of r.lines) {
    const m = /^(127\.[\d.]+) \| (\w+)/.exec(line.text)
    if (m !== null && !seen.has(m[1]!)) seen.set(m[1]!, { t: line.t, ok: m[2] === 'CHANGED' || m[2] === 'SUCCESS' })
  }
  const times = [...seen.values()].map(s => s.t).sort((a, b) => a - b)
  return {
    allResultsMs: Math.max(0, ...times),
    exitMs: r.wallMs,
    latenciesMs: times,
    cpuMs: r.cpuMs,
    maxRssMb: r.maxRssMb,
    ok: [...seen.values()].filter(s => s.ok).length,
    hosts: farm.addrs.length,
    note:
      r.exitCode === 0
        ? undefined
        : `ansible exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(0, 2).join(' / ')}`,
  }
}
