/**
 * Real agent processes for the integration tests, started through the CLI as an operator would.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@pnet/network/testing'

export const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))

export interface AgentProc {
  name: string
  proc: ChildProcess
  addr: string
  peer: string
  dataDir: string
  stderr(): string
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

const procs: ChildProcess[] = []

/** Kills every process a test started (afterAll). */
export function killAll(): void {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  procs.length = 0
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/** Controller state (the job history) of CLI runs goes here, never into the user's real config dir. */
export const CONFIG_HOME = mkdtempSync(join(tmpdir(), 'ops-config-'))
const cliEnv = { ...process.env, XDG_CONFIG_HOME: CONFIG_HOME }

/** `ops-agent ARGS`, to completion. */
export function opsAgent(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: cliEnv },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
      },
    )
  })
}

/** `ops-agent ARGS` as a child we can signal. */
export function opsAgentProc(args: string[]): {
  proc: ChildProcess
  out: () => string
  err: () => string
  done: Promise<number>
} {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv })
  procs.push(proc)
  let out = ''
  let err = ''
  proc.stdout?.on('data', d => {
    out += d
  })
  proc.stderr?.on('data', d => {
    err += d
  })
  const done = new Promise<number>(r => proc.once('exit', code => r(code ?? 1)))
  return { proc, out: () => out, err: () => err, done }
}

export async function controllerKey(dir: string): Promise<{ key: string; peer: string }> {
  const key = join(dir, 'controller.key')
  const r = await opsAgent(['keygen', '--key', key])
  return { key, peer: r.stdout.trim() }
}

/** Starts one agent process; resolves once it printed its address. */
export async function startAgentProc(
  dir: string,
  name: string,
  trust: string[],
  opts: { join?: string; tags?: Record<string, string> } = {},
): Promise<AgentProc> {
  const dataDir = join(dir, name)
  const args = [
    'agent',
    '--data-dir',
    dataDir,
    '--listen',
    'tcp://127.0.0.1:0',
    '--keepalive-ms',
    '300',
    '--link-timeout-ms',
    '1500',
  ]
  for (const t of trust) args.push('--trust', t)
  if (opts.join !== undefined) args.push('--join', opts.join)
  for (const [k, v] of Object.entries({ hostname: name, ...opts.tags })) args.push('--tag', `${k}=${v}`)
  const p = opsAgentProc(args)
  await waitFor(() => /listening (\S+)/.test(p.out()), `agent ${name} to start (stderr: ${p.err()})`, 20_000)
  const addr = /listening (\S+)/.exec(p.out())![1]!
  return { name, proc: p.proc, addr, peer: addr.split('/p2p/')[1]!, dataDir, stderr: p.err }
}

/**
 * A tree: `agent-0` at the root, each next agent joining agent `(i - 1) / branching`. A line is branching 1.
 */
export async function startTree(
  dir: string,
  count: number,
  branching: number,
  trust: string[],
  tags: (i: number) => Record<string, string> = () => ({}),
): Promise<AgentProc[]> {
  const agents: AgentProc[] = []
  agents.push(await startAgentProc(dir, 'agent-0', trust, { tags: tags(0) }))
  // start each level in parallel: a level only needs its parents' addresses
  let level = [0]
  let next = 1
  while (next < count) {
    const children: Promise<AgentProc>[] = []
    const ids: number[] = []
    for (const parent of level) {
      for (let b = 0; b < branching && next < count; b++, next++) {
        const i = next
        ids.push(i)
        children.push(startAgentProc(dir, `agent-${i}`, trust, { join: agents[parent]!.addr, tags: tags(i) }))
      }
    }
    const started = await Promise.all(children)
    started.forEach((a, k) => {
      agents[ids[k]!] = a
    })
    level = ids
  }
  return agents
}

export interface AuditLine {
  job: string
  decision: string
  argv?: string[]
  reason?: string
  status?: string
}

export async function audit(agent: AgentProc): Promise<AuditLine[]> {
  const text = await readFile(join(agent.dataDir, 'audit.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(l => l !== '')
    .map(l => JSON.parse(l) as AuditLine)
}

export interface JsonRun {
  hosts: {
    peer: string
    host: string
    status: string
    exitCode: number | null
    stdout: string
    stderr: string
    reason?: string
  }[]
  summary: Record<'targeted' | 'ok' | 'failed' | 'timeout' | 'unreachable' | 'refused' | 'cancelled', number>
  job: string
}

/** Parses `exec --json` output and checks that the summary counts add up to `targeted` and match the host lines. */
export function parseJsonRun(stdout: string): JsonRun {
  const lines = stdout
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as Record<string, unknown>)
  const last = lines.pop() as { summary: JsonRun['summary']; job: string }
  const hosts = lines as unknown as JsonRun['hosts']
  const s = last.summary
  const sum = s.ok + s.failed + s.timeout + s.unreachable + s.refused + s.cancelled
  if (sum !== s.targeted) throw new Error(`summary counts ${sum} do not add up to targeted ${s.targeted}`)
  if (hosts.length !== s.targeted) throw new Error(`${hosts.length} host lines for ${s.targeted} targeted`)
  for (const k of ['ok', 'failed', 'timeout', 'unreachable', 'refused', 'cancelled'] as const) {
    if (hosts.filter(h => h.status === k).length !== s[k]) throw new Error(`host lines disagree with summary.${k}`)
  }
  return { hosts, summary: s, job: last.job }
}
