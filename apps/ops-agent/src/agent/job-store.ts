/**
 * The agent's memory of jobs, in its data dir: one file per job ID, created exclusively, so a job ID is executed at
 * most once — a duplicate delivery, a replay, or a restart in the middle of a job cannot run it twice. Results stay
 * for RESULT_RETENTION_MS so a controller can collect them later.
 */
import { constants } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
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
      const handle = await open(this.#path(job.id), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      try {
        await handle.writeFile(JSON.stringify(rec))
      } finally {
        await handle.close()
      }
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  }

  async finish(id: string, result: unknown, output?: JobRecord['output']): Promise<void> {
    const rec = await this.get(id)
    if (rec === undefined) return
    await this.#write({ ...rec, state: 'finished', finishedAt: Date.now(), result, output })
  }

  /** Marks a running job as handed over to the next process (an upgrade restart): init will not call it lost. */
  async handover(id: string): Promise<void> {
    const rec = await this.get(id)
    if (rec !== undefined) await this.#write({ ...rec, handover: true })
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
    await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 })
    await rename(tmp, this.#path(rec.id))
  }
}
