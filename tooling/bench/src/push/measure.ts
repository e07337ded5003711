/**
 * One push per tool, all measured the same way: the tool's process started cold (its connections and, for ops-agent,
 * its join are in the time), wall time to every host done, what the controller sent on the wire, its CPU and memory,
 * the receiving side's CPU, and afterwards every copy checked by sha256 and removed.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { opsAgentCli } from '@pnet/fleet'
import { timed } from '../ops/timed.js'

const TIMEOUT_MS = 30 * 60_000

export type ToolKind = 'ops-agent' | 'pdcp' | 'ansible'

/** One destination host's copy after a run. */
export interface HostCopy {
  /** the name the tool knows it by: agent host name or farm address */
  host: string
  /** ms from the tool's start until the tool reported this host done (undefined: the tool reports no such moment) */
  reportedMs: number | undefined
  /** ms from the tool's start until the copy's last write (file mtime) */
  writtenMs: number | undefined
  /** the copy's sha256 equals the source's */
  verified: boolean
  /** why not, when not */
  problem?: string
}

export interface PushMeasurement {
  kind: ToolKind
  /** file size, bytes */
  size: number
  /** start to the last host done (reported, or written where the tool reports nothing per host), ms */
  allDoneMs: number
  exitMs: number
  exitCode: number | null
  copies: HostCopy[]
  /** bytes the controller wrote to the network: socket bytes (ops-agent) or SSH transport bytes (ssh clients) */
  wireOutBytes: number | undefined
  wireInBytes: number | undefined
  /** bytes of the file the controller read (ops-agent only: counted in the process) */
  fileReadBytes: number | undefined
  /** controller CPU: the tool's process and the children it reaped (GNU time) */
  cpuMs: number
  maxRssMb: number
  /** CPU spent on the receiving side: the agents (relaying included) or sshd and what it ran */
  receiversCpuMs: number | undefined
  note?: string
}

/** Hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Per-host destination directories under `root`, emptied. */
export function prepareDestinations(root: string, hosts: readonly string[]): void {
  for (const h of hosts) {
    rmSync(join(root, h), { recursive: true, force: true })
    mkdirSync(join(root, h), { recursive: true })
  }
}

/**
 * Checks every host's copy against `sha256`, notes leftovers (temporary files) and removes everything, so the next
 * run starts from empty directories.
 */
export async function verifyAndClean(
  root: string,
  hosts: readonly string[],
  name: string,
  sha256: string,
  startedEpochMs: number,
  reported: Map<string, number>,
): Promise<HostCopy[]> {
  const copies: HostCopy[] = []
  for (const host of hosts) {
    const dir = join(root, host)
    const path = join(dir, name)
    const copy: HostCopy = { host, reportedMs: reported.get(host), writtenMs: undefined, verified: false }
    if (!existsSync(path)) {
      copy.problem = 'missing'
    } else {
      copy.writtenMs = statSync(path).mtimeMs - startedEpochMs
      const sum = await sha256File(path)
      copy.verified = sum === sha256
      if (!copy.verified) copy.problem = `sha256 ${sum.slice(0, 12)}…`
    }
    const extra = readdirSync(dir).filter(f => f !== name)
    if (extra.length > 0)
      copy.problem = `${copy.problem ?? ''}${copy.problem ? '; ' : ''}left behind: ${extra.join(', ')}`
    copies.push(copy)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
  }
  return copies
}

/** CPU (own + reaped children) of processes, ms; CLK_TCK is 100 on Linux. */
export function treeCpuMs(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after pid and comm
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
    } catch {
      // gone: nothing to add
    }
  }
  return ticks * 10
}

/** Direct children of this process named `comm` (the sshd farm's daemons are ours). */
export function childrenNamed(comm: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (name === comm && ppid === process.pid) pids.push(Number(entry))
    } catch {
      // raced with an exit
    }
  }
  return pids
}

/** Sums the `Transferred: sent N, received M bytes` lines ssh writes at LogLevel VERBOSE when a connection ends. */
export function sshTransferred(logFile: string): { sent: number; received: number; connections: number } {
  let sent = 0
  let received = 0
  let connections = 0
  if (!existsSync(logFile)) return { sent, received, connections }
  for (const m of readFileSync(logFile, 'utf8').matchAll(/Transferred: sent (\d+), received (\d+) bytes/g)) {
    sent += Number(m[1])
    received += Number(m[2])
    connections++
  }
  return { sent, received, connections }
}

export interface OpsPushInput {
  keyFile: string
  via: string
  local: string
  /** destination with `{host}` */
  remote: string
  workDir: string
  /** node flags for the controller process (e.g. --cpu-prof) */
  nodeArgs?: string[]
}

/**
 * `ops-agent push --json` as an operator runs it, with io-hook.js preloaded to count socket and file bytes.
 * Resolves with the per-host report times (by host name) and what the hook counted.
 */
export async function opsAgentPush(input: OpsPushInput): Promise<{
  reported: Map<string, number>
  failures: string[]
  exitMs: number
  exitCode: number | null
  cpuMs: number
  maxRssMb: number
  io: import('./io-hook.js').IoCounts | undefined
  stderr: string
}> {
  const ioOut = join(input.workDir, `io-${process.hrtime.bigint()}.json`)
  const hook = join(import.meta.dirname, 'io-hook.js')
  const args = [
    ...(input.nodeArgs ?? []),
    '--import',
    hook,
    opsAgentCli(),
    'push',
    '--key',
    input.keyFile,
    '--via',
    input.via,
    '--target',
    '*',
    '--json',
    '--timeout',
    '20m',
    '--db',
    join(input.workDir, 'jobs.db'),
    input.local,
    input.remote,
  ]
  const r = await timed(process.execPath, args, {
    env: { ...process.env, PNET_BENCH_IO_OUT: ioOut },
    timeoutMs: TIMEOUT_MS,
  })
  const reported = new Map<string, number>()
  const failures: string[] = []
  for (const line of r.lines) {
    if (!line.text.startsWith('{"peer"')) continue
    const j = JSON.parse(line.text) as { host: string; status: string; stderr?: string; error?: string }
    if (j.status === 'ok') reported.set(j.host, line.t)
    else failures.push(`${j.host}: ${j.status} ${j.error ?? j.stderr ?? ''}`.trim())
  }
  let io: import('./io-hook.js').IoCounts | undefined
  if (existsSync(ioOut)) {
    io = JSON.parse(readFileSync(ioOut, 'utf8')) as import('./io-hook.js').IoCounts
    rmSync(ioOut)
  }
  return {
    reported,
    failures,
    exitMs: r.wallMs,
    exitCode: r.exitCode,
    cpuMs: r.cpuMs,
    maxRssMb: r.maxRssMb,
    io,
    stderr: r.stderr,
  }
}

/** The remote pdcp of a farm where every host is this machine: `{host}` in its arguments becomes the address ssh reached. */
export const PDCP_REMOTE_WRAPPER = `#!/bin/sh
# pdcp runs "pdcp -y -z TARGET" on each host; here all hosts are one machine, so TARGET carries {host}
host=$(echo "$SSH_CONNECTION" | cut -d' ' -f3)
for a in "$@"; do
  shift
  set -- "$@" "$(printf '%s' "$a" | sed "s/{host}/$host/g")"
done
exec pdcp "$@"
`

/** `pdcp -R ssh` of `local` to every farm address; the ssh clients log their transfer counts to `sshLog`. */
export async function pdcpPush(opts: {
  addrs: readonly string[]
  sshConfig: string
  kex: string | undefined
  fanout: number
  wrapper: string
  local: string
  remote: string
  sshLog: string
}): Promise<{ exitMs: number; exitCode: number | null; cpuMs: number; maxRssMb: number; stderr: string }> {
  const kex = opts.kex === undefined ? '' : ` -o KexAlgorithms=${opts.kex}`
  const env = {
    ...process.env,
    PDSH_SSH_ARGS: `-F ${opts.sshConfig}${kex} -o LogLevel=VERBOSE -E ${opts.sshLog} -l%u %h`,
    PDSH_RCMD_TYPE: 'ssh',
  }
  const r = await timed(
    'pdcp',
    ['-R', 'ssh', '-f', String(opts.fanout), '-e', opts.wrapper, '-w', opts.addrs.join(','), opts.local, opts.remote],
    { env, timeoutMs: TIMEOUT_MS },
  )
  return { exitMs: r.wallMs, exitCode: r.exitCode, cpuMs: r.cpuMs, maxRssMb: r.maxRssMb, stderr: r.stderr }
}

/** `ansible all -m copy`; per-host report times from its output. */
export async function ansibleCopy(opts: {
  env: NodeJS.ProcessEnv
  local: string
  /** destination, may use {{ inventory_hostname }} */
  remote: string
}): Promise<{
  reported: Map<string, number>
  failures: string[]
  exitMs: number
  exitCode: number | null
  cpuMs: number
  maxRssMb: number
  stderr: string
}> {
  const r = await timed('ansible', ['all', '-o', '-m', 'copy', '-a', `src=${opts.local} dest=${opts.remote}`], {
    env: opts.env,
    timeoutMs: TIMEOUT_MS,
  })
  const reported = new Map<string, number>()
  const failures: string[] = []
  for (const line of r.lines) {
    const m = /^(127\.[\d.]+) \| (\w+)/.exec(line.text)
    if (m === null) continue
    if (m[2] === 'CHANGED' || m[2] === 'SUCCESS') reported.set(m[1]!, line.t)
    else failures.push(line.text.slice(0, 200))
  }
  return {
    reported,
    failures,
    exitMs: r.wallMs,
    exitCode: r.exitCode,
    cpuMs: r.cpuMs,
    maxRssMb: r.maxRssMb,
    stderr: r.stderr,
  }
}
