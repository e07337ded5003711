/**
 * What a person reads: `host: line` as output arrives (remote stdout to stdout, remote stderr to stderr), then the
 * outputs grouped with their hosts (dshbak -c style), then one summary line; a progress line on a terminal only.
 * And what a script reads: `--json`, one object per host, then the summary.
 */
import type { ExecSummary, HostResult } from './exec.js'

export interface Sink {
  stdout(text: string): void
  stderr(text: string): void
  /** progress goes here only when stderr is a terminal */
  isTTY: boolean
}

export const processSink: Sink = {
  // a reader that went away (`| head -1`) destroys the stream: what follows has nobody to read it
  stdout: t => void (process.stdout.destroyed || process.stdout.write(t)),
  stderr: t => void (process.stderr.destroyed || process.stderr.write(t)),
  isTTY: process.stderr.isTTY === true,
}

/** Live `host: line` output, line-buffered per host and stream. */
export class LivePrinter {
  readonly #partial = new Map<string, string>()
  #total = 0
  #done = 0
  #failed = 0
  #progressShown = false

  constructor(readonly sink: Sink) {}

  targets(n: number): void {
    this.#total = n
    this.#progress()
  }

  output(host: string, stream: 'stdout' | 'stderr', text: string): void {
    const key = `${stream}\u0000${host}`
    const lines = ((this.#partial.get(key) ?? '') + text).split('\n')
    this.#partial.set(key, lines.pop() ?? '')
    if (lines.length === 0) return
    this.#clearProgress()
    const write = stream === 'stdout' ? this.sink.stdout : this.sink.stderr
    write(lines.map(l => `${host}: ${l}\n`).join(''))
    this.#progress()
  }

  done(r: HostResult): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${stream}\u0000${r.host}`
      const rest = this.#partial.get(key)
      if (rest !== undefined && rest !== '') {
        this.#clearProgress()
        ;(stream === 'stdout' ? this.sink.stdout : this.sink.stderr)(`${r.host}: ${rest}\n`)
      }
      this.#partial.delete(key)
    }
    this.#done++
    if (r.status !== 'ok') this.#failed++
    this.#progress()
  }

  finish(): void {
    this.#clearProgress()
  }

  #progress(): void {
    if (!this.sink.isTTY || this.#total === 0) return
    const width = 30
    const filled = Math.round((this.#done / this.#total) * width)
    this.sink.stderr(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} done, ${this.#failed} not ok`,
    )
    this.#progressShown = true
  }

  #clearProgress(): void {
    if (!this.#progressShown) return
    this.sink.stderr('\r\u001b[2K')
    this.#progressShown = false
  }
}

/**
 * Compresses host names the pdsh way: `web-1,web-2,web-3,db-1` → `db-1,web-[1-3]`.
 *
 * @example
 * ```ts
 * hostList(['n1', 'n2', 'n3', 'n7'])   // 'n[1-3,7]'
 * ```
 */
export function hostList(hosts: string[]): string {
  const groups = new Map<string, { nums: number[]; width: number }>()
  const plain: string[] = []
  for (const h of hosts) {
    const m = /^(.*?)(\d+)$/.exec(h)
    if (m === null) {
      plain.push(h)
      continue
    }
    const [, prefix = '', digits = ''] = m
    const g = groups.get(prefix) ?? { nums: [], width: digits.startsWith('0') ? digits.length : 0 }
    g.nums.push(Number(digits))
    groups.set(prefix, g)
  }
  const out = [...plain]
  for (const [prefix, { nums, width }] of groups) {
    const sorted = [...new Set(nums)].sort((a, b) => a - b)
    const pad = (n: number) => String(n).padStart(width, '0')
    if (sorted.length === 1) {
      out.push(`${prefix}${pad(sorted[0]!)}`)
      continue
    }
    const ranges: string[] = []
    let start = sorted[0]!
    let prev = start
    for (const n of [...sorted.slice(1), Number.NaN]) {
      if (n === prev + 1) {
        prev = n
        continue
      }
      ranges.push(start === prev ? pad(start) : `${pad(start)}-${pad(prev)}`)
      start = n
      prev = n
    }
    out.push(`${prefix}[${ranges.join(',')}]`)
  }
  return out.sort().join(',')
}

/** Identical outputs with their hosts, dshbak -c style. */
export function groupedOutput(results: HostResult[]): string {
  const byOutput = new Map<string, string[]>()
  for (const r of results) {
    if (r.stdout === '' && r.stderr === '') continue
    const text =
      r.stdout + (r.stderr === '' ? '' : `${r.stdout === '' || r.stdout.endsWith('\n') ? '' : '\n'}${r.stderr}`)
    byOutput.set(text, [...(byOutput.get(text) ?? []), r.host])
  }
  const bar = '-'.repeat(16)
  return [...byOutput.entries()]
    .map(
      ([text, hosts]) =>
        `${bar}\n${hostList(hosts)} (${hosts.length})\n${bar}\n${text.endsWith('\n') ? text : `${text}\n`}`,
    )
    .join('')
}

/** `12 hosts: 10 ok, 1 failed, 1 unreachable in 1.93 s` plus which hosts were not ok and why. */
export function summaryLine(summary: ExecSummary, results: HostResult[], elapsedMs: number): string {
  const parts = (['ok', 'failed', 'timeout', 'unreachable', 'refused', 'cancelled'] as const)
    .filter(k => summary[k] > 0 || k === 'ok')
    .map(k => `${summary[k]} ${k}`)
  const lines = [`${summary.targeted} hosts: ${parts.join(', ')} in ${(elapsedMs / 1000).toFixed(2)} s`]
  for (const status of ['failed', 'timeout', 'unreachable', 'refused', 'cancelled'] as const) {
    const bad = results.filter(r => r.status === status)
    if (bad.length === 0) continue
    const why = (r: HostResult) =>
      r.reason ?? (r.signal !== null ? `signal ${r.signal}` : r.exitCode !== null ? `exit ${r.exitCode}` : status)
    lines.push(`  ${status}: ${bad.map(r => `${r.host} (${why(r)})`).join(', ')}`)
  }
  return `${lines.join('\n')}\n`
}

/** The `--json` object of one host. */
export function hostJson(r: HostResult): Record<string, unknown> {
  return {
    peer: r.peer,
    host: r.host,
    status: r.status,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    durationMs: r.durationMs,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  }
}
