/**
 * A small helper process that starts commands for the agent.
 *
 * On Linux, libuv starts a child with fork + exec and waits for the exec, with the event loop blocked. fork copies
 * the parent's page tables, so the cost grows with the parent's memory: measured on this project's machine, 2.4 ms per
 * spawn from a 51 MB Node process, 14 ms from 150 MB, 19 ms from 350 MB. An agent is ~85–110 MB and relays other
 * hosts' traffic, and a process holding several agents (tooling/fleet) is larger still, so every command it started
 * stalled routing for everyone behind it. The launcher is a bare Node process (no modules loaded beyond
 * node:child_process) that does the fork + exec instead; the agent talks to it over Node's IPC channel.
 *
 * It starts on the first command and exits after LAUNCHER_IDLE_MS without one, so an idle agent does not pay its
 * memory. Commands keep their own process groups: the agent signals them by pid (`process.kill(-pid)`) as before. If
 * the launcher dies, the commands it was watching end with an error saying so, and the next command starts a new one.
 * The wire between the two is internal (same binary on both sides), not a protocol.
 */
import * as spawnModule from 'node:child_process'
import { type ChildProcess, spawn } from 'node:child_process'
import { LAUNCHER_IDLE_MS } from '../limits.js'

/** What the agent asks the launcher to start. */
export interface LaunchRequest {
  file: string
  args: string[]
  cwd?: string
  env: Record<string, string | undefined>
  uid?: number
  gid?: number
  stdin?: Uint8Array
  /** bytes forwarded per output stream; the rest is counted, not sent */
  maxOutput: number
  /** after the command exits, how long its pipes may stay open (a background child holding them) */
  drainMs: number
}

/** What happens to a launched command, in order: started or error; out…; exit; done. */
export interface LaunchEvents {
  started(pid: number): void
  /** could not start: `code` is the errno name (ENOENT, EACCES…) when there is one */
  error(code: string | undefined, message: string): void
  out(stream: 'stdout' | 'stderr', data: Uint8Array): void
  /** the process exited; output may still arrive until `done` */
  exit(code: number | null, signal: string | null): void
  done(code: number | null, signal: string | null, truncated: { stdout: number; stderr: number }): void
}

type ToLauncher = { t: 'spawn'; id: number } & LaunchRequest
type FromLauncher =
  | { t: 'started'; id: number; pid: number }
  | { t: 'error'; id: number; code: string | undefined; message: string }
  | { t: 'out'; id: number; fd: 1 | 2; data: Uint8Array }
  | { t: 'exit'; id: number; code: number | null; signal: string | null }
  | { t: 'done'; id: number; code: number | null; signal: string | null; truncated: { stdout: number; stderr: number } }

/**
 * Starts one command and reports what happens to it through `emit`. Runs inside the launcher (sent as source text, so
 * it must not refer to anything outside its own body) and, when no launcher can be started, in the agent itself.
 */
function runChild(cp: typeof import('node:child_process'), m: ToLauncher, emit: (e: FromLauncher) => void): void {
  let child: ChildProcess
  try {
    child = cp.spawn(m.file, m.args, {
      cwd: m.cwd,
      env: m.env,
      detached: true, // a new process group: signals reach everything the command started
      stdio: [m.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      uid: m.uid,
      gid: m.gid,
    })
  } catch (err) {
    emit({ t: 'error', id: m.id, code: (err as NodeJS.ErrnoException).code, message: (err as Error).message })
    return
  }
  let failed = false
  let exited: { code: number | null; signal: string | null } | undefined
  let finished = false
  let drain: NodeJS.Timeout | undefined
  const sizes = { stdout: 0, stderr: 0 }
  const truncated = { stdout: 0, stderr: 0 }
  const finish = (code: number | null, signal: string | null): void => {
    if (finished || failed) return
    finished = true
    if (drain !== undefined) clearTimeout(drain)
    emit({ t: 'done', id: m.id, code, signal, truncated })
  }
  const forward = (name: 'stdout' | 'stderr', fd: 1 | 2) => (chunk: Buffer) => {
    const room = m.maxOutput - sizes[name]
    if (room <= 0) {
      truncated[name] += chunk.byteLength
      return
    }
    const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room)
    truncated[name] += chunk.byteLength - part.byteLength
    sizes[name] += part.byteLength
    emit({ t: 'out', id: m.id, fd, data: part })
  }
  child.stdout?.on('data', forward('stdout', 1))
  child.stderr?.on('data', forward('stderr', 2))
  if (m.stdin !== undefined && child.stdin !== null) {
    child.stdin.on('error', () => {}) // the command may not read its stdin
    child.stdin.end(m.stdin)
  }
  child.once('error', err => {
    if (child.pid !== undefined) return // a late pipe error of a running child; 'close' still comes
    failed = true
    emit({ t: 'error', id: m.id, code: (err as NodeJS.ErrnoException).code, message: err.message })
  })
  if (child.pid !== undefined) emit({ t: 'started', id: m.id, pid: child.pid })
  child.once('exit', (code, signal) => {
    exited = { code, signal }
    emit({ t: 'exit', id: m.id, code, signal })
    // output still in the pipes is read; a background child holding them open is not waited for forever
    drain = setTimeout(() => {
      child.stdout?.destroy()
      child.stderr?.destroy()
      finish(code, signal)
    }, m.drainMs)
  })
  child.once('close', (code, signal) => finish(exited?.code ?? code, exited?.signal ?? signal))
}

/** The launcher's main: serve spawn requests until the agent goes. Sent as source text, like runChild. */
function launcherMain(run: typeof runChild): void {
  const cp = process.getBuiltinModule('node:child_process') as typeof import('node:child_process')
  const send = (e: FromLauncher): void => {
    if (process.connected) process.send?.(e)
  }
  process.on('disconnect', () => process.exit(0))
  process.on('message', (raw: unknown) => {
    const m = raw as ToLauncher
    if (m.t === 'spawn') run(cp, m, send)
  })
}

const PROGRAM = `(${launcherMain.toString()})(${runChild.toString()})`

/** Variables an IPC child inherits that must not reach the commands it starts. */
const IPC_ENV = ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID']

/**
 * One launcher process, shared by every agent in this process; started on demand. When no launcher can be started
 * (e.g. the Node binary was replaced on disk by an upgrade), commands are started from this process instead.
 *
 * @example
 * ```ts
 * const launcher = Launcher.shared()
 * launcher.launch({ file: 'uname', args: ['-a'], env: process.env, maxOutput: 1 << 20, drainMs: 2_000 }, events)
 * ```
 */
export class Launcher {
  static #shared: Launcher | undefined

  /** The process-wide launcher. */
  static shared(): Launcher {
    Launcher.#shared ??= new Launcher()
    return Launcher.#shared
  }

  #child: ChildProcess | undefined
  #nextId = 1
  /** what each command's events go to, and which launcher process watches it */
  readonly #running = new Map<number, { events: LaunchEvents; by: ChildProcess }>()
  /** requests sent to a launcher that has not said it is up, kept to be started directly if it never comes up */
  readonly #unconfirmed = new Map<ChildProcess, ToLauncher[]>()
  #idle: NodeJS.Timeout | undefined
  readonly #idleMs: number
  readonly #node: string

  /** `node`: the Node binary to run the launcher with (default: this process's); `idleMs`: exit after this long idle. */
  constructor(options: { idleMs?: number; node?: string } = {}) {
    this.#idleMs = options.idleMs ?? LAUNCHER_IDLE_MS
    this.#node = options.node ?? process.execPath
  }

  /** Number of commands being watched now. */
  get running(): number {
    return this.#running.size
  }

  /** The launcher's pid while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /**
   * Starts a command; `events` hear what happens to it, in order: started or error; out…; exit; done.
   *
   * @example
   * ```ts
   * Launcher.shared().launch({ file: 'true', args: [], env: {}, maxOutput: 1024, drainMs: 2_000 }, {
   *   started: pid => {}, error: (code, msg) => {}, out: (s, d) => {}, exit: () => {}, done: code => {},
   * })
   * ```
   */
  launch(request: LaunchRequest, events: LaunchEvents): void {
    const id = this.#nextId++
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(request.env)) if (v !== undefined && !IPC_ENV.includes(k)) env[k] = v
    const message: ToLauncher = { t: 'spawn', id, ...request, env }
    if (this.#idle !== undefined) {
      clearTimeout(this.#idle)
      this.#idle = undefined
    }
    const child = this.#ensure()
    this.#running.set(id, { events, by: child })
    child.ref()
    child.channel?.ref()
    this.#unconfirmed.get(child)?.push(message)
    child.send(message)
  }

  /** Stops the launcher now; commands it watches end with an error (the commands themselves keep running). */
  close(): void {
    this.#child?.kill('SIGTERM')
  }

  #ensure(): ChildProcess {
    if (this.#child?.connected === true) return this.#child // one that is going away is not reused
    const child = spawn(this.#node, ['--max-semi-space-size=1', '-e', PROGRAM], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    })
    this.#child = child
    this.#unconfirmed.set(child, [])
    child.on('message', raw => {
      this.#unconfirmed.delete(child)
      this.#onMessage(raw as FromLauncher)
    })
    child.on('error', () => {}) // 'close' or 'exit' follows, and is what the commands hear
    // gone once it exited and its channel is read to the end ('close' does not come after a disconnect(); a launcher
    // that never started has 'close' and no 'exit')
    let ended: { code: number | null; signal: string | null } | undefined
    let disconnected = false
    let over = false
    const gone = (code: number | null, signal: string | null): void => {
      if (over) return
      over = true
      this.#gone(child, code, signal)
    }
    child.once('close', gone)
    child.once('exit', (code, signal) => {
      ended = { code, signal }
      if (disconnected) gone(code, signal)
    })
    child.once('disconnect', () => {
      disconnected = true
      if (ended !== undefined) gone(ended.code, ended.signal)
    })
    return child
  }

  #gone(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.#child === child) {
      this.#child = undefined
      if (this.#idle !== undefined) clearTimeout(this.#idle)
      this.#idle = undefined
    }
    const neverUp = this.#unconfirmed.get(child)
    this.#unconfirmed.delete(child)
    // never up (no binary, or a Node that refuses the flags: exit code 9): start what was sent to it from here
    if (neverUp !== undefined && (child.pid === undefined || code === 9)) {
      for (const m of neverUp) runChild(spawnModule, m, e => this.#onMessage(e))
      return
    }
    const why = `the command launcher exited (${signal ?? `code ${code}`}) while the command ran`
    for (const [id, { events, by }] of this.#running) {
      if (by !== child) continue
      this.#running.delete(id)
      events.error(undefined, why)
    }
  }

  #onMessage(m: FromLauncher): void {
    const events = this.#running.get(m.id)?.events
    if (events === undefined) return
    switch (m.t) {
      case 'started':
        events.started(m.pid)
        break
      case 'out':
        events.out(m.fd === 1 ? 'stdout' : 'stderr', m.data)
        break
      case 'exit':
        events.exit(m.code, m.signal)
        break
      case 'error':
        this.#running.delete(m.id)
        events.error(m.code, m.message)
        break
      case 'done':
        this.#running.delete(m.id)
        events.done(m.code, m.signal, m.truncated)
        break
    }
    if (this.#running.size === 0) this.#idleSoon()
  }

  #idleSoon(): void {
    const child = this.#child
    if (child === undefined) return
    // an idle launcher never keeps the agent's process alive
    child.unref()
    child.channel?.unref()
    this.#idle ??= setTimeout(() => {
      this.#idle = undefined
      if (this.#running.size === 0 && this.#child === child) child.disconnect()
    }, this.#idleMs)
    this.#idle.unref()
  }
}
