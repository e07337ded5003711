/**
 * The baselines' programs (Debian packages): found on PATH, installed with apt-get when missing and we are root,
 * otherwise reported missing so the benchmark skips that baseline with a message.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export interface Tool {
  /** program the benchmark runs */
  bin: string
  /** Debian package that provides it */
  pkg: string
}

export const TOOLS = {
  sshd: { bin: '/usr/sbin/sshd', pkg: 'openssh-server' },
  ssh: { bin: 'ssh', pkg: 'openssh-client' },
  pdsh: { bin: 'pdsh', pkg: 'pdsh' },
  ansible: { bin: 'ansible', pkg: 'ansible' },
  time: { bin: '/usr/bin/time', pkg: 'time' },
} as const satisfies Record<string, Tool>

export type ToolName = keyof typeof TOOLS

function present(bin: string): boolean {
  if (bin.startsWith('/')) return existsSync(bin)
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}

/** Version line of a tool, for the table's notes. */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? ''
}

/**
 * Makes sure `names` are installed; returns those still missing (with why).
 *
 * @example
 * ```ts
 * const missing = ensureTools(['sshd', 'pdsh'], msg => console.error(msg))
 * ```
 */
export function ensureTools(names: ToolName[], log: (msg: string) => void): Map<ToolName, string> {
  const missing = new Map<ToolName, string>()
  const need = names.filter(n => !present(TOOLS[n].bin))
  if (need.length === 0) return missing
  const pkgs = [...new Set(need.map(n => TOOLS[n].pkg))]
  if (process.getuid?.() !== 0) {
    for (const n of need) missing.set(n, `${TOOLS[n].bin} not found and not root (apt-get install ${TOOLS[n].pkg})`)
    return missing
  }
  log(`installing ${pkgs.join(' ')} with apt-get …`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, stdio: 'ignore' })
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' })
    r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, stdio: 'ignore' })
  }
  for (const n of need) {
    if (!present(TOOLS[n].bin)) missing.set(n, `apt-get install ${TOOLS[n].pkg} failed (exit ${r.status})`)
  }
  return missing
}
