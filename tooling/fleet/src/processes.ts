/**
 * The two kinds of process a fleet runs: a real `ops-agent agent` process per agent, or a worker process hosting
 * several agents (see worker.ts). Both start agents from an {@link AgentSpec} and report what each listens on.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FleetStartError } from './errors.js'
import type { AgentSpec, Reply, Request, RequestBody, Started } from './ipc.js'

/**
 * A compiled entry point of this package (worker.js, reaper.js): next to this module, or in dist/ when this module
 * runs from its TypeScript source (under vitest) — child processes always run the built JavaScript.
 */
export function entryPoint(name: string): string {
  const here = import.meta.url
  return fileURLToPath(new URL(here.endsWith('.ts') ? `../dist/${name}` : `./${name}`, here))
}

/** The `ops-agent` CLI entry point of the installed app. */
export function opsAgentCli(): string {
  return join(dirname(fileURLToPath(import.meta.resolve('ops-agent'))), 'cli', 'main.js')
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/** Resolves when `child` exits (at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => child.once('exit', () => resolve()))
}

/** The CLI arguments that start `spec` as an `ops-agent agent` process. */
export function agentArgs(spec: AgentSpec): string[] {
  const args = ['agent', '--data-dir', spec.dataDir, '--log-level', spec.logLevel]
  for (const a of spec.listen) args.push('--listen', a)
  for (const a of spec.join) args.push('--join', a)
  for (const [k, v] of Object.entries(spec.tags)) args.push('--tag', `${k}=${v}`)
  for (const t of spec.trust) args.push('--trust', t)
  if (spec.keepalive?.intervalMs !== undefined) args.push('--keepalive-ms', String(spec.keepalive.intervalMs))
  if (spec.keepalive?.timeoutMs !== undefined) args.push('--link-timeout-ms', String(spec.keepalive.timeoutMs))
  return args
}

/**
 * Starts one agent as a real `ops-agent agent` process, exactly as an operator would (its log goes to
 * DATA_DIR/agent.log); resolves once it printed its `listening` lines, which it does after joining.
 */
export async function spawnAgentProcess(
  spec: AgentSpec,
  timeoutMs: number,
  onSpawn: (child: ChildProcess) => void,
  nodeArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; started: Started }> {
  const logFile = join(spec.dataDir, 'agent.log')
  const log = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [...nodeArgs, opsAgentCli(), ...agentArgs(spec)], {
      stdio: ['ignore', 'pipe', log],
    })
  } finally {
    closeSync(log)
  }
  onSpawn(child)
  const name = spec.tags.hostname ?? `agent ${spec.index}`
  const started = await new Promise<Started>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      cleanup()
      reject(new FleetStartError(`${name} (pid ${child.pid}) did not start within ${timeoutMs} ms\n${tail(logFile)}`))
    }, timeoutMs)
    const onData = (d: Buffer): void => {
      out += d.toString()
      // the CLI prints every listening address at once, then nothing more
      const addrs = [...out.matchAll(/^listening (\S+)$/gm)].map(m => m[1]!)
      if (addrs.length >= spec.listen.length) {
        cleanup()
        const peer = /\/p2p\/(\w+)$/.exec(addrs[0]!)?.[1] ?? ''
        resolve({ peer, addrs })
      }
    }
    const onExit = (code: number | null, sig: string | null): void => {
      cleanup()
      reject(new FleetStartError(`${name} exited while starting (code ${code}, signal ${sig})\n${tail(logFile)}`))
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('exit', onExit)
    }
    child.stdout?.on('data', onData)
    child.once('exit', onExit)
  })
  child.stdout?.resume() // nothing more is expected; never let a full pipe block the agent
  return { child, started }
}

/** A worker process hosting several agents, driven over IPC. */
export class Worker {
  readonly child: ChildProcess
  readonly logFile: string
  #next = 1
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>()
  readonly #ready: Promise<void>

  constructor(index: number, logFile: string, nodeArgs: readonly string[] = []) {
    this.logFile = logFile
    const log = openSync(logFile, 'a')
    try {
      this.child = spawn(process.execPath, [...nodeArgs, entryPoint('worker.js')], {
        stdio: ['ignore', 'ignore', log, 'ipc'],
      })
    } finally {
      closeSync(log)
    }
    this.#ready = new Promise((resolve, reject) => {
      const onExit = (code: number | null, sig: string | null): void => {
        const err = new FleetStartError(`worker ${index} exited (code ${code}, signal ${sig})\n${tail(logFile)}`)
        reject(err)
        for (const p of this.#pending.values()) p.reject(err)
        this.#pending.clear()
      }
      this.child.once('exit', onExit)
      this.child.on('message', (raw: unknown) => {
        const msg = raw as Reply
        if ('ready' in msg) return resolve()
        const p = this.#pending.get(msg.id)
        this.#pending.delete(msg.id)
        p?.resolve(msg)
      })
    })
    this.#ready.catch(() => undefined)
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  ready(): Promise<void> {
    return this.#ready
  }

  /** Sends `req`, resolving with the worker's result or rejecting with its error. */
  async request<T>(req: RequestBody, timeoutMs: number): Promise<T> {
    await this.#ready
    const id = this.#next++
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new FleetStartError(`worker pid ${this.pid}: no answer to "${req.op}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: r => {
          clearTimeout(timer)
          resolve(r)
        },
        reject: e => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.send({ ...req, id } as Request)
    })
    if ('ready' in reply) throw new Error('unexpected ready')
    if (!reply.ok) throw new FleetStartError(`worker pid ${this.pid}: ${req.op} failed: ${reply.error}`)
    return reply.result as T
  }
}
