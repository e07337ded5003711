/**
 * Running one tool invocation the same way for every tool: under GNU time (CPU and peak RSS of the process and the
 * children it waited for), stdout lines timestamped as they arrive, wall time from spawn to exit.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Line {
  /** ms since spawn */
  t: number
  text: string
}

export interface Timed {
  wallMs: number
  exitCode: number | null
  /** user + system CPU of the process and its reaped children (GNU time) */
  cpuMs: number
  /** peak RSS of the largest single process among them (GNU time %M) */
  maxRssMb: number
  lines: Line[]
  stderr: string
}

/**
 * Runs `cmd args` under /usr/bin/time; rejects when it does not finish within `timeoutMs` (killed).
 *
 * @example
 * ```ts
 * const r = await timed('pdsh', ['-w', '127.0.0.[2-11]', 'hostname'], { env: process.env, timeoutMs: 60_000 })
 * console.log(r.wallMs, r.lines.length)
 * ```
 */
export async function timed(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string },
): Promise<Timed> {
  const dir = mkdtempSync(join(tmpdir(), 'pnet-timed-'))
  const out = join(dir, 'time')
  try {
    const started = performance.now()
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, cmd, ...args], {
      env: opts.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: Line[] = []
    let partial = ''
    child.stdout.on('data', (d: Buffer) => {
      const t = performance.now() - started
      partial += d.toString()
      let nl = partial.indexOf('\n')
      while (nl >= 0) {
        lines.push({ t, text: partial.slice(0, nl) })
        partial = partial.slice(nl + 1)
        nl = partial.indexOf('\n')
      }
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    const exitCode = await new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
    clearTimeout(timer)
    const wallMs = performance.now() - started
    if (partial !== '') lines.push({ t: wallMs, text: partial })
    if (wallMs >= opts.timeoutMs) throw new Error(`${cmd} did not finish within ${opts.timeoutMs} ms (killed)`)
    const [, user, sys, rssKb] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
    return { wallMs, exitCode, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, maxRssMb: (rssKb ?? 0) / 1024, lines, stderr }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
