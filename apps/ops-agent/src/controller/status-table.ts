/**
 * `ops-agent status` for a person: one aligned line per host (sorted the way people number hosts: web-2 before
 * web-10), the fullest disk rather than all of them, hosts that did not answer kept in the table with why.
 * `--json` needs nothing from here: it prints the SystemStatus objects as they are.
 */
import type { SystemStatus } from '../agent/status.js'

/** One host's line: its status, or why there is none. */
export interface StatusRow {
  host: string
  peer?: string
  status: SystemStatus | null
  /** why `status` is null (unreachable, refused, timed out …) */
  reason?: string
}

/**
 * Bytes the `df -h` way: powers of 1024, one decimal below 10.
 *
 * @example
 * ```ts
 * formatBytes(25_276_514_304)   // '24G'
 * formatBytes(512)              // '512B'
 * ```
 */
export function formatBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P', 'E']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  const text = u === 0 || v >= 10 ? String(Math.round(v)) : v.toFixed(1)
  // 1023.6K rounds to 1024K: say 1.0M instead
  if (text === '1024' && u < units.length - 1) return `1.0${units[u + 1]}`
  return `${text}${units[u]}`
}

/**
 * Uptime in its two largest units.
 *
 * @example
 * ```ts
 * formatUptime(93_780)   // '1d2h'
 * formatUptime(45)       // '45s'
 * ```
 */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3_600)
  const m = Math.floor((seconds % 3_600) / 60)
  if (d > 0) return `${d}d${h}h`
  if (h > 0) return `${h}h${m}m`
  if (m > 0) return `${m}m`
  return `${Math.floor(seconds)}s`
}

/** Addresses worth reading: not loopback, not link-local. */
function addresses(s: SystemStatus): string {
  const list = s.interfaces
    .filter(i => !i.internal)
    .flatMap(i => i.addresses)
    .filter(a => !(a.family === 'IPv6' && /^fe[89ab]/i.test(a.address)))
    .map(a => a.address)
  return list.length === 0 ? '-' : list.join(',')
}

function fullestDisk(s: SystemStatus): string {
  if (s.disks.length === 0) return '-'
  const d = s.disks.reduce((a, b) => (b.usePercent > a.usePercent ? b : a))
  const more = s.disks.length > 1 ? ` +${s.disks.length - 1}` : ''
  return `${d.mount} ${Math.round(d.usePercent)}% of ${formatBytes(d.sizeBytes)}${more}`
}

const HEAD = ['HOST', 'OS', 'KERNEL', 'ARCH', 'UP', 'LOAD', 'CPU', 'MEM', 'DISK', 'ADDRESSES', 'VERSION']

function cells(s: SystemStatus): string[] {
  return [
    [s.os.id ?? s.os.platform, s.os.version].filter(Boolean).join(' '),
    s.kernel.release,
    s.machine,
    formatUptime(s.uptimeSeconds),
    s.load.map(l => l.toFixed(2)).join(' '),
    `${Math.round(s.cpu.usePercent)}% of ${s.cpu.count}`,
    `${Math.round(s.memory.usePercent)}% of ${formatBytes(s.memory.totalBytes)}`,
    fullestDisk(s),
    addresses(s),
    s.agentVersion,
  ]
}

/**
 * The status table, one line per host, columns aligned, then a count line.
 *
 * @example
 * ```ts
 * process.stdout.write(statusTable([{ host: 'web-1', status: await collectStatus() },
 *   { host: 'web-2', status: null, reason: 'unreachable: no route' }]))
 * // HOST   OS         KERNEL  ARCH    UP    LOAD            CPU      MEM          DISK            ADDRESSES  VERSION
 * // web-1  debian 12  6.1.0   x86_64  3d4h  0.52 0.41 0.30  4% of 2  3% of 24G    / 24% of 252G   10.0.0.5   0.1.0
 * // web-2  (unreachable: no route)
 * // 2 hosts: 1 answered, 1 did not
 * ```
 *
 * `countLine: false` leaves out that last line (`ops-agent status` prints the run's summary line instead).
 */
export function statusTable(rows: StatusRow[], opts: { countLine?: boolean } = {}): string {
  const sorted = [...rows].sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }))
  const lines = sorted.map(r => (r.status === null ? null : [r.host, ...cells(r.status)]))
  const widths = HEAD.map((h, i) => Math.max(h.length, ...lines.map(l => (l === null ? 0 : l[i]!.length))))
  const hostWidth = Math.max(widths[0]!, ...sorted.map(r => r.host.length))
  widths[0] = hostWidth
  const render = (l: string[]) =>
    l
      .map((c, i) => (i < l.length - 1 ? c.padEnd(widths[i]!) : c))
      .join('  ')
      .trimEnd()
  const out = [render(HEAD)]
  sorted.forEach((r, i) => {
    const l = lines[i]
    out.push(l === null || l === undefined ? `${r.host.padEnd(hostWidth)}  (${r.reason ?? 'no status'})` : render(l))
  })
  // the CLI ends with its own summary line (counts by status, why not ok, elapsed): a second count would repeat it
  if (opts.countLine === false) return `${out.join('\n')}\n`
  const answered = sorted.filter(r => r.status !== null).length
  const missing = sorted.length - answered
  out.push(
    `${sorted.length} host${sorted.length === 1 ? '' : 's'}: ${answered} answered${missing > 0 ? `, ${missing} did not` : ''}`,
  )
  return `${out.join('\n')}\n`
}
