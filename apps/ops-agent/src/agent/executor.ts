/**
 * Runs one command the way an operator expects: its own process group (so a timeout or cancel reaches every process
 * it started), the given cwd, env and stdin, optionally as another user; SIGTERM on timeout or cancel, SIGKILL after a
 * grace period; output streamed as it comes, bounded per stream. The fork + exec itself happens in a small helper
 * process (launcher.ts), so a large agent process does not stall while commands start.
 */
import { execFileSync } from 'node:child_process'
import { MAX_OUTPUT_BYTES, OUTPUT_DRAIN_MS } from '../limits.js'
import { type LaunchEvents, Launcher } from './launcher.js'

export interface RunSpec {
  argv: string[]
  cwd?: string
  env?: Record<string, string>
  stdin?: Uint8Array
  runAs?: string
  timeoutMs: number
  killGraceMs: number
}

export type OutputStream = 'stdout' | 'stderr'

export interface RunResult {
  /** null when killed by a signal or never started */
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  cancelled: boolean
  durationMs: number
  /** the command could not start (not found, bad cwd, unknown user) */
  error?: string
  /** bytes dropped past MAX_OUTPUT_BYTES */
  truncated: { stdout: number; stderr: number }
}

interface Account {
  uid: number
  gid: number
  home: string
}

let inherited: NodeJS.ProcessEnv | undefined
/** The agent's own environment, copied once: reading process.env is a call into C++ per variable. */
function inheritedEnv(): NodeJS.ProcessEnv {
  inherited ??= { ...process.env }
  return inherited
}

/** Looks a user up in the system's account database. */
export function lookupUser(name: string): Account {
  let line: string
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`unknown user "${name}"`)
  }
  const [, , uid, gid, , home] = line.split(':')
  if (uid === undefined || gid === undefined) throw new Error(`unknown user "${name}"`)
  return { uid: Number(uid), gid: Number(gid), home: home ?? '/' }
}

/**
 * Runs `spec`; resolves when the command has exited and its output is in (or given up on).
 *
 * @example
 * ```ts
 * const r = await runCommand({ argv: ['uname', '-a'], timeoutMs: 30_000, killGraceMs: 5_000 }, (s, b) => log(s, b))
 * ```
 */
export function runCommand(
  spec: RunSpec,
  onOutput: (stream: OutputStream, data: Uint8Array) => void,
  cancel?: AbortSignal,
): Promise<RunResult> {
  const started = performance.now()
  const truncated = { stdout: 0, stderr: 0 }
  const done = (partial: Partial<RunResult>): RunResult => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: performance.now() - started,
    truncated,
    ...partial,
  })
  if (spec.argv.length === 0 || spec.argv[0] === '') return Promise.resolve(done({ error: 'empty command' }))

  let account: Account | undefined
  if (spec.runAs !== undefined) {
    if (process.getuid?.() !== 0)
      return Promise.resolve(done({ error: `cannot run as ${spec.runAs}: the agent is not root` }))
    try {
      account = lookupUser(spec.runAs)
    } catch (err) {
      return Promise.resolve(done({ error: (err as Error).message }))
    }
  }

  return new Promise(resolve => {
    const env = {
      ...inheritedEnv(),
      ...(account !== undefined ? { HOME: account.home, USER: spec.runAs, LOGNAME: spec.runAs } : {}),
      ...spec.env,
    }
    let pid: number | undefined
    let pending: NodeJS.Signals | undefined
    let timedOut = false
    let cancelled = false
    let exited = false
    let finished = false
    const timers: NodeJS.Timeout[] = []

    const killGroup = (sig: NodeJS.Signals): void => {
      if (pid === undefined) {
        pending = sig // not started yet: signalled the moment it is
        return
      }
      try {
        process.kill(-pid, sig)
      } catch {
        // the group is already gone
      }
    }
    const stop = (): void => {
      killGroup('SIGTERM')
      timers.push(setTimeout(() => killGroup('SIGKILL'), spec.killGraceMs))
    }
    const finish = (partial: Partial<RunResult>): void => {
      if (finished) return
      finished = true
      for (const t of timers) clearTimeout(t)
      cancel?.removeEventListener('abort', onCancel)
      resolve(done({ timedOut, cancelled, ...partial }))
    }
    const onCancel = (): void => {
      if (exited || cancelled) return
      cancelled = true
      stop()
    }

    timers.push(
      setTimeout(() => {
        if (exited) return
        timedOut = true
        stop()
      }, spec.timeoutMs),
    )
    if (cancel?.aborted === true) onCancel()
    else cancel?.addEventListener('abort', onCancel, { once: true })

    const events: LaunchEvents = {
      started(p) {
        pid = p
        if (pending !== undefined) killGroup(pending)
      },
      error(code, message) {
        if (pid !== undefined) return finish({ error: message }) // the launcher went while the command ran
        const what =
          code === 'ENOENT' ? `command not found: ${spec.argv[0]}` : `cannot start ${spec.argv[0]}: ${message}`
        finish({
          exitCode: code === 'ENOENT' ? 127 : 126,
          error: spec.cwd !== undefined && code === 'ENOENT' ? `${what} (or cwd ${spec.cwd} missing)` : what,
        })
      },
      out: onOutput,
      exit() {
        exited = true
      },
      done(exitCode, signal, dropped) {
        truncated.stdout = dropped.stdout
        truncated.stderr = dropped.stderr
        finish({ exitCode, signal })
      },
    }
    Launcher.shared().launch(
      {
        file: spec.argv[0]!,
        args: spec.argv.slice(1),
        cwd: spec.cwd,
        env,
        uid: account?.uid,
        gid: account?.gid,
        stdin: spec.stdin,
        maxOutput: MAX_OUTPUT_BYTES,
        drainMs: OUTPUT_DRAIN_MS,
      },
      events,
    )
  })
}
