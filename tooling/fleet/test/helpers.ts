import { readFileSync } from 'node:fs'
import { alive, descendants } from '../src/index.js'

/** Command line of a live process ('' when it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return ''
  }
}

/** Fleet processes (agents, workers, reapers) and commands below this test process that are still alive. */
export function leftovers(extra: readonly number[] = []): string[] {
  const mine = descendants([process.pid]).filter(p => /ops-agent|worker\.js|reaper\.js|sleep/.test(cmdline(p)))
  return [...new Set([...mine, ...extra])].filter(alive).map(p => `${p}: ${cmdline(p)}`)
}
