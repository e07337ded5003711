import { mkdir, mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { describe, expect, it } from 'vitest'
import { capOutput, defaultHistoryPath, HistoryError, type NewResult, openHistory } from '../src/controller/history.js'
import { MIGRATIONS } from '../src/controller/history-schema.js'
import { HISTORY_BUSY_TIMEOUT_MS, MAX_HISTORY_OUTPUT_BYTES } from '../src/limits.js'

const dbPath = async () => join(await mkdtemp(join(tmpdir(), 'ops-history-')), 'nested', 'jobs.db')

const result = (host: string, status: NewResult['status'], extra: Partial<NewResult> = {}): NewResult => ({
  peer: `peer-${host}`,
  host,
  status,
  exitCode: status === 'ok' ? 0 : status === 'failed' ? 3 : null,
  signal: status === 'timeout' ? 'SIGTERM' : null,
  stdout: `out of ${host}\n`,
  stderr: '',
  durationMs: 12.6,
  ...extra,
})

describe('job history', () => {
  it('records a job and its results, and reads them back after reopening the file', async () => {
    const path = await dbPath()
    const h = await openHistory(path)
    h.recordJob({
      id: 'a1b2c3d4e5',
      kind: 'exec',
      argv: ['uname', '-a'],
      selectors: ['role=web', 'host=db-*'],
      via: 'tcp://10.0.0.1:4001',
      startedAt: 1_000,
    })
    h.recordResult('a1b2c3d4e5', result('web-2', 'ok'))
    h.recordResult('a1b2c3d4e5', result('web-1', 'failed', { stderr: 'boom\n' }))
    h.recordResult('a1b2c3d4e5', result('web-3', 'unreachable', { reason: 'no route', stdout: '' }))
    h.recordResult('a1b2c3d4e5', result('web-4', 'timeout'))
    const summary = h.finishJob('a1b2c3d4e5', { finishedAt: 2_000 })
    expect(summary).toEqual({ targeted: 4, ok: 1, failed: 1, timeout: 1, unreachable: 1, refused: 0, cancelled: 0 })
    h.close()

    const again = await openHistory(path)
    const job = again.getJob('a1b2c3d4e5')!
    expect(job).toMatchObject({
      kind: 'exec',
      argv: ['uname', '-a'],
      selectors: ['role=web', 'host=db-*'],
      via: 'tcp://10.0.0.1:4001',
      startedAt: 1_000,
      finishedAt: 2_000,
      summary,
      pending: [],
    })
    expect(job.results.map(r => r.host)).toEqual(['web-1', 'web-2', 'web-3', 'web-4'])
    expect(job.results[0]).toMatchObject({ status: 'failed', exitCode: 3, stderr: 'boom\n', durationMs: 13 })
    expect(job.results[2]).toMatchObject({ status: 'unreachable', reason: 'no route', exitCode: null })
    expect(job.results[3]).toMatchObject({ status: 'timeout', signal: 'SIGTERM' })
    expect(job.results[1]).not.toHaveProperty('reason')
    again.close()
  })

  it('creates the file 0600 in a 0700 directory', async () => {
    const path = await dbPath()
    ;(await openHistory(path)).close()
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700)
  })

  it('records script and push jobs, and lists the most recent first, with a limit and a kind filter', async () => {
    const h = await openHistory(await dbPath())
    h.recordJob({ id: 'job-1', kind: 'exec', argv: ['true'], selectors: ['*'], startedAt: 10 })
    h.recordJob({ id: 'job-2', kind: 'script', script: 'deploy.sh', selectors: ['*'], startedAt: 20 })
    h.recordJob({
      id: 'job-3',
      kind: 'push',
      push: { local: './app.tar', remote: '/opt/app.tar' },
      selectors: ['os=linux'],
      startedAt: 30,
    })
    expect(h.listJobs().map(j => j.id)).toEqual(['job-3', 'job-2', 'job-1'])
    expect(h.listJobs({ limit: 2 }).map(j => j.id)).toEqual(['job-3', 'job-2'])
    expect(h.listJobs({ kind: 'script' })).toMatchObject([
      { id: 'job-2', script: 'deploy.sh', argv: null, summary: null },
    ])
    expect(h.getJob('job-3')?.push).toEqual({ local: './app.tar', remote: '/opt/app.tar' })
    expect(() => h.listJobs({ limit: 0 })).toThrow(/limit must be a positive integer/)
    h.close()
  })

  it('keeps the targets of an async job, reports the ones still pending, and lets a later result replace one', async () => {
    const h = await openHistory(await dbPath())
    const targets = [
      { peer: 'peer-a', host: 'a' },
      { peer: 'peer-b', host: 'b' },
    ]
    h.recordJob({ id: 'async-1', kind: 'exec', argv: ['sleep', '60'], selectors: ['*'], targets, async: true })
    h.recordResult('async-1', result('a', 'unreachable', { peer: 'peer-a', stdout: '' }))
    let job = h.getJob('async-1')!
    expect(job.async).toBe(true)
    expect(job.pending).toEqual([{ peer: 'peer-b', host: 'b' }])
    // collected later: the real result replaces the earlier one
    h.recordResult('async-1', result('a', 'ok', { peer: 'peer-a' }))
    h.recordResult('async-1', result('b', 'ok', { peer: 'peer-b' }))
    job = h.getJob('async-1')!
    expect(job.pending).toEqual([])
    expect(job.results.map(r => r.status)).toEqual(['ok', 'ok'])
    expect(h.finishJob('async-1').targeted).toBe(2)
    h.close()
  })

  it('finds a job by a unique ID prefix and refuses an ambiguous one', async () => {
    const h = await openHistory(await dbPath())
    h.recordJob({ id: 'ffee0011aa', kind: 'exec', argv: ['true'], selectors: ['*'] })
    h.recordJob({ id: 'ffee0022bb', kind: 'exec', argv: ['true'], selectors: ['*'] })
    expect(h.getJob('ffee001')?.id).toBe('ffee0011aa')
    expect(() => h.getJob('ffee')).toThrow(/ambiguous/)
    expect(h.getJob('ff')).toBeUndefined()
    expect(h.getJob('0000aaaa')).toBeUndefined()
    h.close()
  })

  it('refuses a duplicate job, a result for an unknown job, an unknown status, and finishing an unknown job', async () => {
    const h = await openHistory(await dbPath())
    h.recordJob({ id: 'dup', kind: 'exec', argv: ['true'], selectors: ['*'] })
    expect(() => h.recordJob({ id: 'dup', kind: 'exec', argv: ['true'], selectors: ['*'] })).toThrow(
      expect.objectContaining({ name: 'HistoryError', code: 'ERR_DUPLICATE_JOB' }),
    )
    expect(() => h.recordResult('nope', result('x', 'ok'))).toThrow(
      expect.objectContaining({ code: 'ERR_UNKNOWN_JOB', message: expect.stringContaining('nope') }),
    )
    expect(() => h.recordResult('dup', result('x', 'weird' as NewResult['status']))).toThrow(/unknown status "weird"/)
    expect(() => h.finishJob('nope')).toThrow(HistoryError)
    h.close()
  })

  it(`caps each stream at MAX_HISTORY_OUTPUT_BYTES (${MAX_HISTORY_OUTPUT_BYTES}), keeping head and tail`, async () => {
    const h = await openHistory(await dbPath())
    h.recordJob({ id: 'big', kind: 'exec', argv: ['yes'], selectors: ['*'] })
    const big = `HEAD${'é'.repeat(MAX_HISTORY_OUTPUT_BYTES)}TAIL`
    const exact = 'x'.repeat(MAX_HISTORY_OUTPUT_BYTES)
    h.recordResult('big', result('a', 'ok', { stdout: big, stderr: exact }))
    const r = h.getJob('big')!.results[0]!
    expect(r.stdout.startsWith('HEAD')).toBe(true)
    expect(r.stdout.endsWith('TAIL')).toBe(true)
    expect(r.stdout).not.toContain('\ufffd')
    expect(r.stdout).toMatch(/\[… ops-agent history: \d+ bytes left out …\]/)
    const kept = Buffer.byteLength(r.stdout.replace(/\n\[… ops-agent history: \d+ bytes left out …\]\n/, ''))
    expect(kept + r.stdoutOmittedBytes).toBe(Buffer.byteLength(big))
    expect(kept).toBeLessThanOrEqual(MAX_HISTORY_OUTPUT_BYTES)
    expect(r.stderr).toBe(exact)
    expect(r.stderrOmittedBytes).toBe(0)
    h.close()
  })

  it('capOutput leaves short text alone', () => {
    expect(capOutput('hello', 10)).toEqual({ text: 'hello', omitted: 0 })
    expect(capOutput('0123456789abcdef', 8)).toEqual({
      text: '0123\n[… ops-agent history: 8 bytes left out …]\ncdef',
      omitted: 8,
    })
  })

  it('prunes old jobs together with their results', async () => {
    const h = await openHistory(await dbPath())
    h.recordJob({ id: 'old', kind: 'exec', argv: ['true'], selectors: ['*'], startedAt: 100 })
    h.recordJob({ id: 'new', kind: 'exec', argv: ['true'], selectors: ['*'], startedAt: 300 })
    h.recordResult('old', result('a', 'ok'))
    expect(h.prune(200)).toBe(1)
    expect(h.listJobs().map(j => j.id)).toEqual(['new'])
    const db = new DatabaseSync(h.path)
    expect(db.prepare('SELECT COUNT(*) AS n FROM results').get()).toEqual({ n: 0 })
    db.close()
    h.close()
  })

  it('records its schema version, migrates once, and refuses a database from a newer ops-agent', async () => {
    const path = await dbPath()
    ;(await openHistory(path)).close()
    ;(await openHistory(path)).close()
    const db = new DatabaseSync(path)
    expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 1 }, { version: 2 }])
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (99, 0)').run()
    db.close()
    await expect(openHistory(path)).rejects.toMatchObject({
      code: 'ERR_HISTORY_TOO_NEW',
      message: expect.stringContaining(path),
    })
  })

  it('records when each host ran; a job lasts until its last host ended, also when collected later', async () => {
    const path = await dbPath()
    const h = await openHistory(path)
    h.recordJob({ id: 'timed', kind: 'exec', argv: ['sleep', '1'], selectors: ['*'], startedAt: 10_000, async: true })
    h.recordResult('timed', result('a', 'ok', { durationMs: 1_200, startedAt: 10_000 }))
    h.recordResult('timed', result('b', 'ok', { durationMs: 900, startedAt: 10_050, finishedAt: 10_950 }))
    // collected a minute later: the job still ended when its last host did
    h.finishJob('timed')
    const job = h.getJob('timed')!
    expect(job).toMatchObject({ startedAt: 10_000, finishedAt: 11_200, durationMs: 1_200 })
    expect(job.results.map(r => [r.host, r.startedAt, r.finishedAt])).toEqual([
      ['a', 10_000, 11_200],
      ['b', 10_050, 10_950],
    ])
    expect(h.listJobs()[0]!.durationMs).toBe(1_200)
    h.close()
  })

  it('migrates a version 1 database: existing results get start and end times from when they were recorded', async () => {
    const path = await dbPath()
    await mkdir(dirname(path), { recursive: true })
    const v1 = new DatabaseSync(path)
    v1.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)')
    v1.exec(MIGRATIONS[0]!)
    v1.prepare('INSERT INTO schema_version VALUES (1, 0)').run()
    v1.exec(
      `INSERT INTO jobs (id, kind, selectors, started_at, finished_at) VALUES ('old', 'exec', '["*"]', 1000, 3000)`,
    )
    v1.exec(`INSERT INTO results (job_id, peer, host, status, stdout, stderr, duration_ms, recorded_at)
             VALUES ('old', 'p', 'web-1', 'ok', '', '', 1500, 2900)`)
    v1.close()
    const h = await openHistory(path)
    const job = h.getJob('old')!
    expect(job.durationMs).toBe(2_000)
    expect(job.results[0]).toMatchObject({ startedAt: 1_400, finishedAt: 2_900, durationMs: 1_500 })
    h.close()
  })

  it('lets two controllers open and write the same database at once', async () => {
    const path = await dbPath()
    const [a, b] = await Promise.all([openHistory(path), openHistory(path)])
    a.recordJob({ id: 'from-a', kind: 'exec', argv: ['true'], selectors: ['*'] })
    b.recordJob({ id: 'from-b', kind: 'exec', argv: ['true'], selectors: ['*'] })
    expect(
      a
        .listJobs()
        .map(j => j.id)
        .sort(),
    ).toEqual(['from-a', 'from-b'])
    a.close()
    b.close()
  })

  it('names the file when it cannot be opened', async () => {
    await expect(openHistory('/proc/version/jobs.db')).rejects.toMatchObject({
      code: 'ERR_HISTORY_OPEN',
      message: expect.stringContaining('/proc/version/jobs.db'),
    })
  })

  it('defaults to $XDG_CONFIG_HOME/ops-agent/jobs.db, else ~/.config/ops-agent/jobs.db', () => {
    expect(defaultHistoryPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/ana' })).toBe('/x/cfg/ops-agent/jobs.db')
    expect(defaultHistoryPath({ HOME: '/home/ana' })).toBe('/home/ana/.config/ops-agent/jobs.db')
    // the XDG spec says a relative value is invalid and must be ignored
    expect(defaultHistoryPath({ XDG_CONFIG_HOME: 'rel', HOME: '/home/ana' })).toBe(
      '/home/ana/.config/ops-agent/jobs.db',
    )
  })
})

describe('job history under a lock', () => {
  it(`gives up after HISTORY_BUSY_TIMEOUT_MS (${HISTORY_BUSY_TIMEOUT_MS} ms) when another process holds the write lock`, async () => {
    const path = await dbPath()
    const h = await openHistory(path)
    const other = new DatabaseSync(path)
    other.exec('BEGIN IMMEDIATE')
    try {
      expect(() => h.recordJob({ id: 'blocked', kind: 'exec', argv: ['true'], selectors: ['*'] })).toThrow(
        expect.objectContaining({ code: 'ERR_HISTORY_BUSY', message: expect.stringContaining(path) }),
      )
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    h.recordJob({ id: 'later', kind: 'exec', argv: ['true'], selectors: ['*'] })
    expect(h.getJob('later')).toBeDefined()
    h.close()
  })
})
