/** Process bookkeeping on Linux: descendants from /proc, liveness, waiting for an exit we did not spawn. */
import { readdirSync, readFileSync } from 'node:fs'

/** Parent pid of every process now (from /proc/PID/stat; the name field may hold spaces and parentheses). */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return children // not Linux: no descendants known
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ppid = Number(fields[1])
    const list = children.get(ppid)
    if (list === undefined) children.set(ppid, [Number(name)])
    else list.push(Number(name))
  }
  return children
}

/**
 * Every live descendant of `roots` (children, grandchildren…), roots excluded. Commands an agent runs are in
 * process groups of their own, so killing an agent's group would miss them; walking the tree does not.
 *
 * @example
 * ```ts
 * const left = descendants([agentPid])   // e.g. the `sleep 30` it was running
 * ```
 */
export function descendants(roots: readonly number[]): number[] {
  const children = parentMap()
  const out: number[] = []
  const queue = [...roots]
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c)
      queue.push(c)
    }
  }
  return out
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return true
  }
}

/** Sends `signal`, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** Resolves true once every pid is gone, false if some are still alive after `timeoutMs`. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (pids.every(p => !alive(p))) return true
    if (Date.now() >= deadline) return false
    await new Promise(r => setTimeout(r, 25))
  }
}
