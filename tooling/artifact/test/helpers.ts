/**
 * The artifact as a test sees it: built once (cached by contents), extracted into a fresh folder, and processes
 * started from it with an environment that has no Node anywhere on PATH.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@pnet/network/testing'
import { x as extract } from 'tar'
import { type Artifact, buildArtifact } from '../src/index.js'

/** The repo's own controller (ops-agent from the workspace, run by the test's Node). */
export const REPO_CLI = fileURLToPath(import.meta.resolve('ops-agent').replace(/index\.js$/, 'cli/main.js'))

/** No Node, no coreutils: only what the artifact brings (plus /bin/sh for the launcher). */
export const NO_NODE_ENV = { PATH: '/nonexistent', HOME: tmpdir(), LANG: 'C' }

let built: Promise<Artifact> | undefined

/** Builds the artifact once per test file (the archive itself is cached across files and runs). */
export function artifact(): Promise<Artifact> {
  built ??= buildArtifact()
  return built
}

/** Extracts the artifact into a new temp folder; resolves to the artifact's top folder. */
export async function extracted(a: Artifact): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ops-artifact-'))
  await extract({ file: a.path, cwd: dir, strict: true })
  return join(dir, a.name)
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs `file args` to completion. */
export function runFile(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise(resolve => {
    execFile(
      file,
      args,
      { env: opts.env ?? NO_NODE_ENV, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    )
  })
}

const procs: ChildProcess[] = []

export function killAll(): void {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  procs.length = 0
}

export interface Proc {
  proc: ChildProcess
  out(): string
  err(): string
  exited: Promise<number>
}

export function start(file: string, args: string[], env: NodeJS.ProcessEnv = NO_NODE_ENV): Proc {
  const proc = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  procs.push(proc)
  let out = ''
  let err = ''
  proc.stdout?.on('data', d => {
    out += d
  })
  proc.stderr?.on('data', d => {
    err += d
  })
  const exited = new Promise<number>(r => proc.once('exit', code => r(code ?? 128)))
  return { proc, out: () => out, err: () => err, exited }
}

/** Starts `ops-agent agent` from an extracted artifact; resolves with its listen addresses once it printed them. */
export async function startAgent(
  top: string,
  dataDir: string,
  opts: { listen: string[]; trust: string; join?: string; tags?: Record<string, string> },
): Promise<Proc & { addrs: string[] }> {
  const args = ['agent', '--data-dir', dataDir, '--trust', opts.trust]
  for (const l of opts.listen) args.push('--listen', l)
  if (opts.join !== undefined) args.push('--join', opts.join)
  for (const [k, v] of Object.entries(opts.tags ?? {})) args.push('--tag', `${k}=${v}`)
  const p = start(join(top, 'bin', 'ops-agent'), args)
  const count = (): number => (p.out().match(/^listening /gm) ?? []).length
  await waitFor(
    () => count() >= opts.listen.length || p.proc.exitCode !== null,
    `the artifact's agent to listen (stderr: ${p.err()})`,
    30_000,
  )
  if (p.proc.exitCode !== null) throw new Error(`agent exited ${p.proc.exitCode}: ${p.err()}`)
  return { ...p, addrs: [...p.out().matchAll(/^listening (\S+)/gm)].map(m => m[1]!) }
}
