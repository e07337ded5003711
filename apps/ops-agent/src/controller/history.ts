/**
 * The controller's job history: every exec, script and push is a job with an ID, recorded with its per-host results
 * in an embedded SQLite database (node:sqlite — no native add-on to build). `ops-agent jobs` lists it and
 * `ops-agent job ID` shows one; an `--async` job's targets are recorded up front so its results can be collected by a
 * later controller process.
 *
 * The file is created 0600 in a 0700 directory (outputs can hold secrets) and opened in WAL mode with a busy timeout,
 * so two controllers on one machine can record at the same time.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import { HISTORY_BUSY_TIMEOUT_MS, MAX_HISTORY_OUTPUT_BYTES } from '../limits.js'
import { MIGRATIONS } from './history-schema.js'

/** What a job did: the vocabulary of `exec`, `script` and `push`. */
export type JobKind = 'exec' | 'script' | 'push'

/** Per-host outcome, the same vocabulary as `exec --json`. */
export type ResultStatus = 'ok' | 'failed' | 'timeout' | 'unreachable' | 'refused' | 'cancelled'

const STATUSES: readonly ResultStatus[] = ['ok', 'failed', 'timeout', 'unreachable', 'refused', 'cancelled']

/** Counts per status; they add up to `targeted`. */
export interface JobSummary {
  targeted: number
  ok: number
  failed: number
  timeout: number
  unreachable: number
  refused: number
  cancelled: number
}

/** A job as it starts. */
export interface NewJob {
  /** the job ID the agents know it by */
  id: string
  kind: JobKind
  /** exec: the command line */
  argv?: string[]
  /** script: the script's file name */
  script?: string
  /** push: where the file came from and where it goes */
  push?: { local: string; remote: string }
  /** the `--target` selectors as typed */
  selectors: string[]
  /** the agent the controller joined through, so `ops-agent job ID` can go back the same way */
  via?: string
  /** hosts the job was sent to (recorded up front for `--async` jobs, whose results are collected later) */
  targets?: { peer: string; host: string }[]
  async?: boolean
  /** epoch ms; default now */
  startedAt?: number
}

/** One host's result: structurally the `HostResult` of exec, so one can be passed as is. */
export interface NewResult {
  peer: string
  host: string
  status: ResultStatus
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  durationMs: number
  reason?: string
  /** epoch ms the host started the job; default `finishedAt - durationMs` */
  startedAt?: number
  /** epoch ms it ended there; default now (a result recorded as it arrives) */
  finishedAt?: number
}

/** A stored result: output capped at MAX_HISTORY_OUTPUT_BYTES per stream, with how much was left out. */
export interface StoredResult extends NewResult {
  /** bytes of stdout not kept (0 when it was kept whole); the text carries a marker where they were */
  stdoutOmittedBytes: number
  stderrOmittedBytes: number
  recordedAt: number
  startedAt: number
  finishedAt: number
}

/** A job from the history. `summary` is null until the job finished. */
export interface JobEntry {
  id: string
  kind: JobKind
  argv: string[] | null
  script: string | null
  push: { local: string; remote: string } | null
  selectors: string[]
  via: string | null
  targets: { peer: string; host: string }[] | null
  async: boolean
  startedAt: number
  /** when its last host ended (or the run was given up) */
  finishedAt: number | null
  /** `finishedAt - startedAt`; null until the job finished */
  durationMs: number | null
  summary: JobSummary | null
}

/** A job with its per-host results (sorted by host). */
export interface JobDetail extends JobEntry {
  results: StoredResult[]
  /** targets that have no result yet (for an `--async` job still being collected) */
  pending: { peer: string; host: string }[]
}

/** A history database that cannot be used, or a job that is not in it. */
export class HistoryError extends Error {
  readonly code: string
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HistoryError'
    this.code = code
  }
}

/**
 * Where the history lives when `--db` is not given: `$XDG_CONFIG_HOME/ops-agent/jobs.db`, else
 * `~/.config/ops-agent/jobs.db`.
 *
 * @example
 * ```ts
 * defaultHistoryPath({ HOME: '/home/ana' })   // '/home/ana/.config/ops-agent/jobs.db'
 * ```
 */
export function defaultHistoryPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  const base = xdg?.startsWith('/') ? xdg : join(env.HOME ?? homedir(), '.config')
  return join(base, 'ops-agent', 'jobs.db')
}

/**
 * Keeps at most `max` bytes of `text`: the first and last halves, cut on character boundaries, around a marker that
 * says how many bytes were left out.
 *
 * @example
 * ```ts
 * capOutput('x'.repeat(100_000), 1024).omitted   // 98976
 * ```
 */
export function capOutput(text: string, max = MAX_HISTORY_OUTPUT_BYTES): { text: string; omitted: number } {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= max) return { text, omitted: 0 }
  let headEnd = Math.floor(max / 2)
  while (headEnd > 0 && (bytes[headEnd]! & 0xc0) === 0x80) headEnd--
  let tailStart = bytes.length - (max - Math.floor(max / 2))
  while (tailStart < bytes.length && (bytes[tailStart]! & 0xc0) === 0x80) tailStart++
  const omitted = tailStart - headEnd
  const head = bytes.subarray(0, headEnd).toString('utf8')
  const tail = bytes.subarray(tailStart).toString('utf8')
  return { text: `${head}\n[… ops-agent history: ${omitted} bytes left out …]\n${tail}`, omitted }
}

/** The open history. Every method is synchronous (SQLite in process) and safe to call from any async code. */
export interface History {
  readonly path: string
  /** Records a job as it starts. Throws HistoryError ERR_DUPLICATE_JOB if the ID is already recorded. */
  recordJob(job: NewJob): void
  /** Records (or replaces: a host collected later overrides an earlier `unreachable`) one host's result. */
  recordResult(jobId: string, result: NewResult): void
  /**
   * Marks the job finished; the summary is counted from the recorded results unless given, and `finishedAt` is when
   * its last host ended unless given (an --async job is collected after the fact: collecting is not finishing).
   */
  finishJob(jobId: string, opts?: { summary?: JobSummary; finishedAt?: number }): JobSummary
  /** Most recent jobs first. */
  listJobs(opts?: { limit?: number; kind?: JobKind }): JobEntry[]
  /** A job and its results, by full ID or a unique prefix of at least 4 characters; undefined when unknown. */
  getJob(idOrPrefix: string): JobDetail | undefined
  /** Deletes jobs (and their results) started before `before` (epoch ms); returns how many. */
  prune(before: number): number
  close(): void
}

interface JobRow {
  id: string
  kind: string
  argv: string | null
  script: string | null
  push_local: string | null
  push_remote: string | null
  selectors: string
  via: string | null
  targets: string | null
  async: number
  started_at: number
  finished_at: number | null
  targeted: number | null
  ok: number | null
  failed: number | null
  timeout: number | null
  unreachable: number | null
  refused: number | null
  cancelled: number | null
}

interface ResultRow {
  peer: string
  host: string
  status: string
  exit_code: number | null
  signal: string | null
  stdout: string
  stderr: string
  stdout_omitted: number
  stderr_omitted: number
  duration_ms: number
  reason: string | null
  recorded_at: number
  started_at: number
  finished_at: number
}

async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  // Node 22 prints "ExperimentalWarning: SQLite is an experimental feature" on first import (24 does not); a CLI
  // user cannot act on it, so that one warning is dropped and every other passes through
  const emit = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message
    if (/SQLite is an experimental feature/i.test(text)) return
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest)
  }) as typeof process.emitWarning
  try {
    return await import('node:sqlite')
  } catch (err) {
    throw new HistoryError(
      `the job history needs node:sqlite (Node.js ≥ 22.13 without flags); this is Node.js ${process.versions.node}`,
      'ERR_NO_SQLITE',
      { cause: err },
    )
  } finally {
    process.emitWarning = emit
  }
}

/**
 * Opens (creating if needed) the job history at `path` and brings its schema up to date.
 *
 * @example
 * ```ts
 * const history = await openHistory(defaultHistoryPath())
 * history.recordJob({ id: job.id, kind: 'exec', argv: ['uptime'], selectors: ['role=web'] })
 * for (const r of run.results) history.recordResult(job.id, r)
 * history.finishJob(job.id)
 * console.log(history.listJobs({ limit: 20 }))
 * history.close()
 * ```
 */
export async function openHistory(path: string): Promise<History> {
  const { DatabaseSync } = await loadSqlite()
  let db: DatabaseSync
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    // create the file ourselves so it is 0600 from the start (SQLite would use the umask)
    closeSync(openSync(path, 'a', 0o600))
    db = new DatabaseSync(path, { timeout: HISTORY_BUSY_TIMEOUT_MS })
    db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL')
  } catch (err) {
    throw new HistoryError(`cannot open job history ${path}: ${(err as Error).message}`, 'ERR_HISTORY_OPEN', {
      cause: err,
    })
  }
  try {
    migrate(db, path)
  } catch (err) {
    db.close()
    throw err
  }
  return new SqliteHistory(db, path)
}

function migrate(db: DatabaseSync, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)')
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }
  const current = row.v ?? 0
  if (current > MIGRATIONS.length) {
    throw new HistoryError(
      `job history ${path} has schema version ${current}, newer than this ops-agent knows (${MIGRATIONS.length}); ` +
        'use a newer ops-agent or another --db',
      'ERR_HISTORY_TOO_NEW',
    )
  }
  for (let v = current + 1; v <= MIGRATIONS.length; v++) {
    db.exec('BEGIN IMMEDIATE')
    try {
      // another controller may have migrated while we waited for the lock
      const again = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }
      if ((again.v ?? 0) < v) {
        db.exec(MIGRATIONS[v - 1]!)
        db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(v, Date.now())
      }
      db.exec('COMMIT')
    } catch (err) {
      db.exec('ROLLBACK')
      throw new HistoryError(
        `migrating job history ${path} to version ${v} failed: ${(err as Error).message}`,
        'ERR_HISTORY_MIGRATE',
        {
          cause: err,
        },
      )
    }
  }
}

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v))

class SqliteHistory implements History {
  constructor(
    readonly db: DatabaseSync,
    readonly path: string,
  ) {}

  recordJob(job: NewJob): void {
    if (job.id === '') throw new HistoryError('a job needs an ID', 'ERR_BAD_JOB')
    this.#busy(() => this.#recordJob(job))
  }

  #recordJob(job: NewJob): void {
    try {
      this.db
        .prepare(
          `INSERT INTO jobs (id, kind, argv, script, push_local, push_remote, selectors, via, targets, async, started_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          job.id,
          job.kind,
          json(job.argv),
          job.script ?? null,
          job.push?.local ?? null,
          job.push?.remote ?? null,
          JSON.stringify(job.selectors),
          job.via ?? null,
          json(job.targets),
          job.async === true ? 1 : 0,
          job.startedAt ?? Date.now(),
        )
    } catch (err) {
      if (/UNIQUE constraint/.test((err as Error).message)) {
        throw new HistoryError(`job ${job.id} is already in the history`, 'ERR_DUPLICATE_JOB', { cause: err })
      }
      throw err
    }
  }

  recordResult(jobId: string, r: NewResult): void {
    if (!STATUSES.includes(r.status)) {
      throw new HistoryError(`result of ${r.host} for job ${jobId} has unknown status "${r.status}"`, 'ERR_BAD_RESULT')
    }
    this.#busy(() => this.#recordResult(jobId, r))
  }

  #recordResult(jobId: string, r: NewResult): void {
    const out = capOutput(r.stdout)
    const err = capOutput(r.stderr)
    const now = Date.now()
    const durationMs = Math.round(r.durationMs)
    const finishedAt = Math.round(r.finishedAt ?? (r.startedAt === undefined ? now : r.startedAt + durationMs))
    const startedAt = Math.round(r.startedAt ?? finishedAt - durationMs)
    try {
      this.db
        .prepare(
          `INSERT INTO results (job_id, peer, host, status, exit_code, signal, stdout, stderr, stdout_omitted,
             stderr_omitted, duration_ms, reason, recorded_at, started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (job_id, peer) DO UPDATE SET host = excluded.host, status = excluded.status,
             exit_code = excluded.exit_code, signal = excluded.signal, stdout = excluded.stdout, stderr = excluded.stderr,
             stdout_omitted = excluded.stdout_omitted, stderr_omitted = excluded.stderr_omitted,
             duration_ms = excluded.duration_ms, reason = excluded.reason, recorded_at = excluded.recorded_at,
             started_at = excluded.started_at, finished_at = excluded.finished_at`,
        )
        .run(
          jobId,
          r.peer,
          r.host,
          r.status,
          r.exitCode,
          r.signal,
          out.text,
          err.text,
          out.omitted,
          err.omitted,
          durationMs,
          r.reason ?? null,
          now,
          startedAt,
          finishedAt,
        )
    } catch (e) {
      if (/FOREIGN KEY constraint/.test((e as Error).message)) {
        throw new HistoryError(`job ${jobId} is not in the history (record the job first)`, 'ERR_UNKNOWN_JOB', {
          cause: e,
        })
      }
      throw e
    }
  }

  finishJob(jobId: string, opts: { summary?: JobSummary; finishedAt?: number } = {}): JobSummary {
    return this.#busy(() => this.#finishJob(jobId, opts))
  }

  #finishJob(jobId: string, opts: { summary?: JobSummary; finishedAt?: number }): JobSummary {
    const summary = opts.summary ?? this.#count(jobId)
    const last = this.db.prepare('SELECT MAX(finished_at) AS t FROM results WHERE job_id = ?').get(jobId) as {
      t: number | null
    }
    const res = this.db
      .prepare(
        `UPDATE jobs SET finished_at = ?, targeted = ?, ok = ?, failed = ?, timeout = ?, unreachable = ?, refused = ?,
           cancelled = ? WHERE id = ?`,
      )
      .run(
        opts.finishedAt ?? last.t ?? Date.now(),
        summary.targeted,
        summary.ok,
        summary.failed,
        summary.timeout,
        summary.unreachable,
        summary.refused,
        summary.cancelled,
        jobId,
      )
    if (res.changes === 0) throw new HistoryError(`job ${jobId} is not in the history`, 'ERR_UNKNOWN_JOB')
    return summary
  }

  listJobs(opts: { limit?: number; kind?: JobKind } = {}): JobEntry[] {
    const limit = opts.limit ?? 50
    if (!Number.isInteger(limit) || limit <= 0)
      throw new HistoryError(`limit must be a positive integer, got ${limit}`, 'ERR_BAD_LIMIT')
    const where = opts.kind === undefined ? '' : 'WHERE kind = ?'
    const params: SQLInputValue[] = opts.kind === undefined ? [limit] : [opts.kind, limit]
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${where} ORDER BY started_at DESC, rowid DESC LIMIT ?`)
      .all(...params) as unknown as JobRow[]
    return rows.map(toEntry)
  }

  getJob(idOrPrefix: string): JobDetail | undefined {
    let row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(idOrPrefix) as JobRow | undefined
    if (row === undefined && idOrPrefix.length >= 4 && /^[0-9A-Za-z_-]+$/.test(idOrPrefix)) {
      const rows = this.db
        .prepare("SELECT * FROM jobs WHERE id LIKE ? || '%' LIMIT 2")
        .all(idOrPrefix) as unknown as JobRow[]
      if (rows.length > 1) {
        throw new HistoryError(`job ID prefix "${idOrPrefix}" is ambiguous; give more of the ID`, 'ERR_AMBIGUOUS_JOB')
      }
      row = rows[0]
    }
    if (row === undefined) return undefined
    const results = (
      this.db
        .prepare('SELECT * FROM results WHERE job_id = ? ORDER BY host, peer')
        .all(row.id) as unknown as ResultRow[]
    ).map(toResult)
    const entry = toEntry(row)
    const have = new Set(results.map(r => r.peer))
    return { ...entry, results, pending: (entry.targets ?? []).filter(t => !have.has(t.peer)) }
  }

  prune(before: number): number {
    return Number(this.db.prepare('DELETE FROM jobs WHERE started_at < ?').run(before).changes)
  }

  close(): void {
    if (this.db.isOpen) this.db.close()
  }

  /** Another controller held the database longer than the busy timeout: say so, naming the file. */
  #busy<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (/database is locked|SQLITE_BUSY/i.test((err as Error).message)) {
        throw new HistoryError(
          `job history ${this.path} stayed locked by another process for ${HISTORY_BUSY_TIMEOUT_MS} ms`,
          'ERR_HISTORY_BUSY',
          { cause: err },
        )
      }
      throw err
    }
  }

  #count(jobId: string): JobSummary {
    const rows = this.db
      .prepare('SELECT status, COUNT(*) AS n FROM results WHERE job_id = ? GROUP BY status')
      .all(jobId) as unknown as { status: ResultStatus; n: number }[]
    const s: JobSummary = { targeted: 0, ok: 0, failed: 0, timeout: 0, unreachable: 0, refused: 0, cancelled: 0 }
    for (const { status, n } of rows) {
      s[status] += n
      s.targeted += n
    }
    return s
  }
}

function toEntry(r: JobRow): JobEntry {
  return {
    id: r.id,
    kind: r.kind as JobKind,
    argv: r.argv === null ? null : (JSON.parse(r.argv) as string[]),
    script: r.script,
    push: r.push_local === null || r.push_remote === null ? null : { local: r.push_local, remote: r.push_remote },
    selectors: JSON.parse(r.selectors) as string[],
    via: r.via,
    targets: r.targets === null ? null : (JSON.parse(r.targets) as { peer: string; host: string }[]),
    async: r.async === 1,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.finished_at === null ? null : Math.max(0, r.finished_at - r.started_at),
    summary:
      r.finished_at === null
        ? null
        : {
            targeted: r.targeted ?? 0,
            ok: r.ok ?? 0,
            failed: r.failed ?? 0,
            timeout: r.timeout ?? 0,
            unreachable: r.unreachable ?? 0,
            refused: r.refused ?? 0,
            cancelled: r.cancelled ?? 0,
          },
  }
}

function toResult(r: ResultRow): StoredResult {
  return {
    peer: r.peer,
    host: r.host,
    status: r.status as ResultStatus,
    exitCode: r.exit_code,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    durationMs: r.duration_ms,
    ...(r.reason !== null ? { reason: r.reason } : {}),
    stdoutOmittedBytes: r.stdout_omitted,
    stderrOmittedBytes: r.stderr_omitted,
    recordedAt: r.recorded_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }
}
