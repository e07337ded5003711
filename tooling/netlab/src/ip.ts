/**
 * Thin wrappers over iproute2: batches (one `ip` process for many commands) and the sweep of stale lab objects.
 */
import { spawnSync } from 'node:child_process'
import { NAME_PREFIX } from './limits.js'

/** A failed `ip` command, with what it printed. */
export class IpCommandError extends Error {
  readonly code = 'ERR_IP_COMMAND'
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(`ip ${args.join(' ')} failed: ${stderr.trim() || 'no output'}`)
    this.name = 'IpCommandError'
  }
}

/** Runs `ip ARGS`; throws IpCommandError unless it exits 0. */
export function ip(args: readonly string[], input?: string): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', input, timeout: 30_000 })
  if (r.error !== undefined) throw new IpCommandError(args, r.error.message)
  if (r.status !== 0) throw new IpCommandError(args, r.stderr)
  return r.stdout
}

/** Runs many `ip` commands (one per line) in one process, optionally inside a namespace. */
export function ipBatch(lines: readonly string[], ns?: string): void {
  if (lines.length === 0) return
  ip([...(ns === undefined ? [] : ['-n', ns]), '-batch', '-'], `${lines.join('\n')}\n`)
}

/** Names of all network namespaces. */
export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map(l => l.trim().split(/\s+/)[0] ?? '')
    .filter(n => n !== '')
}

/** Process IDs inside a namespace (empty when it is gone). */
export function namespacePids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
  if (r.status !== 0) return []
  return r.stdout
    .split('\n')
    .map(l => Number.parseInt(l, 10))
    .filter(n => Number.isInteger(n) && n > 0)
}

/** Kills every process in `ns`, then deletes it; never throws (teardown must go on). */
export function destroyNamespace(ns: string): void {
  for (const pid of namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' })
}

/** The owner process ID encoded in a lab object's name, or undefined for names that are not ours. */
export function ownerOf(name: string): number | undefined {
  const m = new RegExp(`^${NAME_PREFIX}([0-9a-z]+)_`).exec(name)
  return m === null ? undefined : Number.parseInt(m[1]!, 36)
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes namespaces and root-namespace veths left by labs whose owner process is gone (a runner killed with
 * SIGKILL cannot clean up after itself). Labs of live processes are left alone. Returns what was removed.
 */
export function sweepStale(): string[] {
  const removed: string[] = []
  for (const ns of listNamespaces()) {
    const owner = ownerOf(ns)
    if (owner === undefined || isAlive(owner)) continue
    destroyNamespace(ns)
    removed.push(ns)
  }
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? ''
  for (const line of links.split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1]
    if (name === undefined) continue
    const owner = ownerOf(name)
    if (owner === undefined || isAlive(owner)) continue
    spawnSync('ip', ['link', 'del', name])
    removed.push(name)
  }
  return removed
}

/** True when this process may build namespaces (root, with iproute2). */
export function canBuildLabs(): boolean {
  if (process.getuid?.() !== 0) return false
  return spawnSync('ip', ['netns', 'list']).status === 0
}
