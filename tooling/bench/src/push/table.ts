/** The push benchmark's tables: one row per tool and file size with ratios against ops-agent, one line per host. */
import { quantile } from '../ops/measure.js'
import type { PushMeasurement } from './measure.js'

export interface PushRow {
  hosts: number
  /** settings shown with the tool's name */
  tool: string
  runs: number
  m: PushMeasurement
}

const MiB = 2 ** 20
const s = (ms: number | undefined): string => (ms === undefined ? '–' : (ms / 1000).toFixed(2))
const mib = (b: number | undefined): string => (b === undefined ? '–' : (b / MiB).toFixed(1))
const x = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b <= 0 ? '–' : `${(a / b).toFixed(a / b < 1 ? 2 : 1)}×`

function sorted(v: (number | undefined)[]): number[] {
  return v.filter((n): n is number => n !== undefined).sort((a, b) => a - b)
}

/** Per-host moment a tool counts as done: its report where it gives one, else the copy's last write. */
export function doneMs(c: PushMeasurement['copies'][number]): number | undefined {
  return c.reportedMs ?? c.writtenMs
}

/**
 * Markdown table: time to every host done, throughput, what the controller sent and read, CPU, memory, verified
 * copies, and each baseline against ops-agent (how many times slower, how many times more bytes sent).
 *
 * @example
 * ```ts
 * console.log(pushTable(rows))
 * ```
 */
export function pushTable(rows: readonly PushRow[]): string {
  const head = [
    'file',
    'hosts',
    'tool (settings)',
    'runs',
    'all hosts done s',
    'exit s',
    'per-host p50 s',
    'delivered MB/s',
    'controller sent MiB',
    'sent ÷ file',
    'file read MiB',
    'controller CPU s',
    'receivers CPU s',
    'max RSS MB',
    'sha256 ok',
    'ops-agent faster by',
    'sends × ops-agent',
  ]
  const lines = rows.map(r => {
    const ops = rows.find(o => o.m.kind === 'ops-agent' && o.m.size === r.m.size && o.hosts === r.hosts)
    const baseline = r.m.kind !== 'ops-agent'
    const per = sorted(r.m.copies.map(doneMs))
    const ok = r.m.copies.filter(c => c.verified).length
    const delivered = (r.m.size * ok) / 1e6 / (r.m.allDoneMs / 1000)
    return [
      `${mib(r.m.size)} MiB`,
      String(r.hosts),
      r.tool,
      String(r.runs),
      s(r.m.allDoneMs),
      s(r.m.exitMs),
      s(quantile(per, 0.5)),
      Number.isFinite(delivered) ? delivered.toFixed(0) : '–',
      mib(r.m.wireOutBytes),
      r.m.wireOutBytes === undefined ? '–' : `${(r.m.wireOutBytes / r.m.size).toFixed(2)}`,
      mib(r.m.fileReadBytes),
      s(r.m.cpuMs),
      s(r.m.receiversCpuMs),
      r.m.maxRssMb.toFixed(0),
      `${ok}/${r.hosts}${r.m.note === undefined ? '' : ` (${r.m.note})`}`,
      baseline ? x(r.m.allDoneMs, ops?.m.allDoneMs) : '',
      baseline ? x(r.m.wireOutBytes, ops?.m.wireOutBytes) : '',
    ]
  })
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 2 || i === 14 ? '---' : '---:')).join('|')}|`,
    ...lines.map(l => `| ${l.join(' | ')} |`),
  ].join('\n')
}

/**
 * One line per destination host: when each tool had it done (reported, or the copy's last write, `(written)`, where
 * the tool reports nothing per host) and whether the copy's sha256 matched.
 */
export function hostLines(rows: readonly PushRow[]): string {
  const tools = rows.map(r => `${r.m.kind} ${mib(r.m.size)} MiB`)
  const hosts = Math.max(0, ...rows.map(r => r.m.copies.length))
  const head = ['#', ...tools]
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (let i = 0; i < hosts; i++) {
    const cells = rows.map(r => {
      const c = r.m.copies[i]
      if (c === undefined) return '–'
      const when = c.reportedMs !== undefined ? `${s(c.reportedMs)} s` : `${s(c.writtenMs)} s (written)`
      return `${c.host} ${when} ${c.verified ? '✓' : `✗ ${c.problem ?? ''}`}`.trim()
    })
    out.push(`| ${i + 1} | ${cells.join(' | ')} |`)
  }
  return out.join('\n')
}
