/** The ops benchmark's table and its verdict on the issue's targets. */
import { type Measurement, quantile } from './measure.js'

export interface Row {
  hosts: number
  cmd: string
  tool: string
  kind: 'cli' | 'joined' | 'pdsh' | 'ansible'
  runs: number
  m: Measurement
}

/** Issue 7's targets. */
export const TARGETS = {
  /** at 100 hosts, ops-agent at least this many times faster than pdsh */
  vsPdsh: 3,
  /** … and than ansible */
  vsAnsible: 10,
  /** at 500 agents, per-host p99 under this */
  p99At500Ms: 200,
  /** idle agent RSS at most this */
  idleRssMb: 60,
} as const

const s = (ms: number | undefined): string => (ms === undefined ? '–' : (ms / 1000).toFixed(2))
const ms = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(0))
const x = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b <= 0 ? '–' : `${(a / b).toFixed(1)}×`

function find(rows: Row[], hosts: number, cmd: string, kind: Row['kind']): Row | undefined {
  return rows.find(r => r.hosts === hosts && r.cmd === cmd && r.kind === kind)
}

/** Markdown table: one row per tool and cell, with how many times faster ops-agent was (both ways of counting). */
export function table(rows: Row[]): string {
  const head = [
    'hosts',
    'cmd',
    'tool (settings)',
    'runs',
    'all results s',
    'exit s',
    'per-host p50 ms',
    'p99 ms',
    'CPU s',
    'max RSS MB',
    'ok',
    'ops-agent CLI faster by',
    'ops-agent joined faster by',
  ]
  const lines = rows.map(r => {
    const cli = find(rows, r.hosts, r.cmd, 'cli')?.m.allResultsMs
    const joined = find(rows, r.hosts, r.cmd, 'joined')?.m.allResultsMs
    const baseline = r.kind === 'pdsh' || r.kind === 'ansible'
    return [
      String(r.hosts),
      `\`${r.cmd}\``,
      r.tool,
      String(r.runs),
      s(r.m.allResultsMs),
      s(r.m.exitMs),
      ms(quantile(r.m.latenciesMs, 0.5)),
      ms(quantile(r.m.latenciesMs, 0.99)),
      s(r.m.cpuMs),
      r.m.maxRssMb.toFixed(0),
      `${r.m.ok}/${r.m.hosts}${r.m.note === undefined ? '' : ` (${r.m.note})`}`,
      baseline ? x(r.m.allResultsMs, cli) : '',
      baseline ? x(r.m.allResultsMs, joined) : '',
    ]
  })
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 4 || i === 10 ? '---' : '---:')).join('|')}|`,
    ...lines.map(l => `| ${l.join(' | ')} |`),
  ].join('\n')
}

const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**')
const median = (v: number[]): number | undefined =>
  quantile(
    [...v].sort((a, b) => a - b),
    0.5,
  )

/** The issue's targets, each with the measured value and met/missed. */
export function targets(
  rows: Row[],
  idleDedicatedMb: number[],
  idleShared: { hosts: number; mbPerAgent: number[] },
): string {
  const out = ['### Targets (issue 7)', '']
  for (const cmd of [...new Set(rows.map(r => r.cmd))]) {
    const cli = find(rows, 100, cmd, 'cli')?.m.allResultsMs
    const joined = find(rows, 100, cmd, 'joined')?.m.allResultsMs
    for (const [kind, want] of [
      ['pdsh', TARGETS.vsPdsh],
      ['ansible', TARGETS.vsAnsible],
    ] as const) {
      const base = find(rows, 100, cmd, kind)?.m.allResultsMs
      const rc = base === undefined || cli === undefined ? undefined : base / cli
      const rj = base === undefined || joined === undefined ? undefined : base / joined
      out.push(
        `- 100 hosts, \`${cmd}\`, ≥ ${want}× faster than ${kind}: CLI (incl. start + join) ${x(base, cli)} ${verdict(rc === undefined ? undefined : rc >= want)}; joined controller (excl. join) ${x(base, joined)} ${verdict(rj === undefined ? undefined : rj >= want)}`,
      )
    }
  }
  for (const cmd of [...new Set(rows.map(r => r.cmd))]) {
    const joined = find(rows, 500, cmd, 'joined')
    const cli = find(rows, 500, cmd, 'cli')
    const p99 = joined === undefined ? undefined : quantile(joined.m.latenciesMs, 0.99)
    const p99cli = cli === undefined ? undefined : quantile(cli.m.latenciesMs, 0.99)
    out.push(
      `- 500 agents, \`${cmd}\`, p99 per-host latency < ${TARGETS.p99At500Ms} ms: joined controller ${ms(p99)} ms ${verdict(p99 === undefined ? undefined : p99 < TARGETS.p99At500Ms)} (CLI, counted from process start: ${ms(p99cli)} ms)`,
    )
  }
  const ded = median(idleDedicatedMb)
  const shared = median(idleShared.mbPerAgent)
  out.push(
    `- idle agent RSS ≤ ${TARGETS.idleRssMb} MB: one \`ops-agent agent\` process ${ded === undefined ? '–' : ded.toFixed(0)} MB (median of ${idleDedicatedMb.length}: ${idleDedicatedMb.map(v => v.toFixed(0)).join(', ')}) ${verdict(ded === undefined ? undefined : ded <= TARGETS.idleRssMb)}; ` +
      `agents sharing a process (fleet of ${idleShared.hosts}): ${shared === undefined ? '–' : shared.toFixed(1)} MB per agent`,
  )
  return out.join('\n')
}
