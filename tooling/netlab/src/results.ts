/**
 * Recorded figures: each scenario merges its numbers into results/figures.json (git-ignored), which
 * scripts/report.mjs turns into the tables of docs/RELIABILITY.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface ResultsFile {
  /** scenario name → its figures, as last recorded */
  [scenario: string]: {
    recordedAt: string
    command: string
    /** 1-minute load average and cores when recorded: figures from a busy machine read differently */
    load: { avg1: number; cpus: number }
    figures: Record<string, unknown>
  }
}

/** Where figures go: NETLAB_RESULTS, or tooling/netlab/results/figures.json. */
export function resultsPath(): string {
  return process.env.NETLAB_RESULTS ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'figures.json')
}

/**
 * Merges one scenario's figures into the results file.
 *
 * @example
 * ```ts
 * recordFigures('ring-cut', 'pnpm exec vitest run test/ring.test.ts', { rerouteMs: 2300, corruptedBytes: 0 })
 * ```
 */
export function recordFigures(scenario: string, command: string, figures: Record<string, unknown>): void {
  const path = resultsPath()
  mkdirSync(dirname(path), { recursive: true })
  const all: ResultsFile = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ResultsFile) : {}
  all[scenario] = {
    recordedAt: new Date().toISOString(),
    command,
    load: { avg1: Math.round(loadavg()[0]! * 10) / 10, cpus: cpus().length },
    figures,
  }
  writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`)
}

/** The p-th percentile (0–100) of `values`, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
