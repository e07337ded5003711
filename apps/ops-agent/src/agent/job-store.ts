/**
 * The agent's memory of jobs, in its data dir: one file per job ID, created exclusively, so a job ID is executed at
 * most once — a duplicate delivery, a replay, or a restart in the middle of a job cannot run it twice. Results stay
 * for RESULT_RETENTION_MS so a controller can collect them later.
 *
 * The writes on a job's path (claim, finish) are synchronous: a record is a few hundred bytes into the page cache, a
 * few microseconds of system calls, where the promise API costs a thread-pool round trip per open, write and close —
 * measured as ~15% of an agent's CPU per job when 25 agents share a process.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { RESULT_RETENTION_MS } from '../limits.js'
import type { Job } from '../protocol/job.js'

export type JobState = 'running' | 'finished' | 'lost'

export interface JobRecord {
  id: string
  kind: string
  controller: string
  state: JobState
  startedAt: number
  finishedAt?: number
  argv?: string[]
  /** the final result as sent to the controller */
  result?: unknown
  /**
   * an upgrade handed over to the next agent process: it is still `running` across the restart, and the upgrade
   * watchdog (not init) finishes it
   */
  handover?: boolean
  /** base64 of the first STORED_OUTPUT_BYTES of each stream, for `ops-agent job ID` */
  output?: { stdout: string; stderr: string }
}

export class JobStore {
  readonly dir: string
  /** records of the jobs this process claimed and has not finished: finish() need not read them back */
  readonly #open = new Map<string, JobRecord>()

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'jobs')
  }

  /** Creates the directory; jobs left `running` by a previous process are marked `lost` (never run again). */
  async init(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const lost: string[] = []
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue
      const rec = await this.#read(join(this.dir, name))
      if (rec?.state === 'running' && rec.handover !== true) {
        await this.#write({ ...rec, state: 'lost', finishedAt: Date.now() })
        lost.push(rec.id)
      }
    }
    return lost
  }

  /** Claims `job` for execution: true the first time, false for every later attempt (any process, any restart). */
  async claim(job: Job): Promise<boolean> {
    const rec: JobRecord = {
      id: job.id,
      kind: job.kind,
      controller: job.controller,
      state: 'running',
      startedAt: Date.now(),
      argv: job.command?.argv,
    }
    try {
      // 'wx': created exclusively, so only one claim of an ID ever succeeds
      writeFileSync(this.#path(job.id), JSON.stringify(rec), { flag: 'wx', mode: 0o600 })
      this.#open.set(job.id, rec)
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  }

  async finish(id: string, result: unknown, output?: JobRecord['output']): Promise<void> {
    const rec = this.#open.get(id) ?? (await this.get(id))
    this.#open.delete(id)
    if (rec === undefined) return
    await this.#write({ ...rec, state: 'finished', finishedAt: Date.now(), result, output })
  }

  /** Marks a running job as handed over to the next process (an upgrade restart): init will not call it lost. */
  async handover(id: string): Promise<void> {
    const rec = await this.get(id)
    if (rec === undefined) return
    const next = { ...rec, handover: true }
    if (this.#open.has(id)) this.#open.set(id, next)
    await this.#write(next)
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!/^[0-9a-f]{32}$/.test(id)) return undefined
    return this.#read(this.#path(id))
  }

  /** Deletes records older than the retention period; returns how many. */
  async prune(now = Date.now(), retentionMs = RESULT_RETENTION_MS): Promise<number> {
    let removed = 0
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name)
      const info = await stat(path).catch(() => undefined)
      if (info !== undefined && now - info.mtimeMs > retentionMs) {
        await rm(path, { force: true })
        removed++
      }
    }
    return removed
  }

  #path(id: string): string {
    return join(this.dir, `${id}.json`)
  }

  async #read(path: string): Promise<JobRecord | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as JobRecord
    } catch {
      return undefined
    }
  }

  async #write(rec: JobRecord): Promise<void> {
    const tmp = `${this.#path(rec.id)}.tmp`
    writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 })
    renameSync(tmp, this.#path(rec.id))
  }
}
