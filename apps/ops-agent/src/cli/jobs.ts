/**
 * `ops-agent jobs` (the history) and `ops-agent job ID [--wait]`: a job's per-host results from the history, and for
 * hosts that have none yet (an `--async` job, or a controller that stopped early) a collect job that asks each of
 * them what it kept in its data dir — output and result, or that the job still runs there.
 */
import { execute, type HostResult } from '../controller/exec.js'
import { joinFleet } from '../controller/fleet.js'
import { type JobDetail, openHistory, type StoredResult } from '../controller/history.js'
import { groupedOutput, hostJson, type Sink, summaryLine } from '../controller/output.js'
import { parseSelectors } from '../controller/selector.js'
import { controllerSettings, loadControllerKey, VIA_ENV } from './defaults.js'
import { exitCode, parseDuration, positiveInt, UsageError } from './run.js'

/** How often `job ID --wait` asks hosts where the job still runs. */
const WAIT_POLL_MS = 1_000

/** `ops-agent jobs [--limit N] [--json] [--db FILE]` */
export async function jobsCommand(values: Record<string, unknown>, sink: Sink): Promise<number> {
  const history = await openHistory(controllerSettings(values).db.value)
  try {
    const jobs = history.listJobs({ limit: positiveInt('limit', values.limit) ?? 20 })
    if (values.json === true) {
      sink.stdout(`${JSON.stringify(jobs, null, 2)}\n`)
      return 0
    }
    for (const j of jobs) {
      const what = j.kind === 'push' ? `${j.push?.local} → ${j.push?.remote}` : (j.script ?? j.argv?.join(' ') ?? '')
      const s = j.summary
      const state = s === null ? (j.async ? 'async, not collected' : 'unfinished') : `${s.ok}/${s.targeted} ok`
      const took = j.durationMs === null ? '-' : `${(j.durationMs / 1000).toFixed(2)} s`
      sink.stdout(
        `${j.id}  ${new Date(j.startedAt).toISOString()}  ${took.padStart(9)}  ${j.kind.padEnd(6)}  ${state.padEnd(20)}  ${what}\n`,
      )
    }
    if (jobs.length === 0) sink.stdout('no jobs recorded yet\n')
    return 0
  } finally {
    history.close()
  }
}

/** `ops-agent job ID [--wait] [--timeout 10m] [--json] [--key FILE] [--via ADDR] [--db FILE]` */
export async function jobCommand(
  id: string,
  values: Record<string, unknown>,
  sink: Sink,
  address: (flag: string, text: string) => string,
): Promise<number> {
  const settings = controllerSettings(values)
  const history = await openHistory(settings.db.value)
  try {
    let job = history.getJob(id)
    if (job === undefined) throw new UsageError(`no job ${id} in ${history.path}`)
    const deadline =
      Date.now() + (values.timeout === undefined ? 10 * 60_000 : parseDuration('--timeout', values.timeout as string))
    const running = new Map<string, HostResult>()
    if (job.pending.length > 0) {
      // the job's own join address is more to the point than the environment's or the config file's
      const via = settings.via.source === 'flag' ? settings.via.value : (job.via ?? settings.via.value)
      if (via === undefined) {
        throw new UsageError(
          `job ${job.id} has ${job.pending.length} hosts to collect from: give --via (or $${VIA_ENV})`,
        )
      }
      const key = await loadControllerKey(settings.key)
      const fleet = await joinFleet({ key, via: address('via', via) })
      try {
        let pending = job.pending.map(p => p.peer)
        while (pending.length > 0) {
          running.clear()
          const run = await execute({
            key,
            fleet,
            selectors: parseSelectors(pending.map(p => `id=${p}`)),
            job: { kind: 'collect', collects: job.id },
            command: { argv: [], timeoutMs: 10_000, killGraceMs: 0 },
          })
          const unreachable: HostResult[] = []
          const record = (r: HostResult): void => history.recordResult(job!.id, ranAt(job!, r) as never)
          for (const r of run.results) {
            if (r.status === 'running') running.set(r.peer, r)
            // while we wait for others anyway, a host out of reach now is asked again next round
            else if (r.status === 'unreachable' && values.wait === true) unreachable.push(r)
            else record(r)
          }
          const again = running.size > 0 && Date.now() <= deadline && values.wait === true
          if (!again) for (const r of unreachable) record(r)
          pending = again ? [...running.keys(), ...unreachable.map(r => r.peer)] : []
          job = history.getJob(job.id) as JobDetail
          if (!again) break
          await new Promise(r => setTimeout(r, WAIT_POLL_MS))
        }
        if (job.pending.length === 0 && job.summary === null) history.finishJob(job.id)
        job = history.getJob(job.id) as JobDetail
      } finally {
        await fleet.close()
      }
    }
    return show(job, [...running.values()], values.json === true, sink)
  } finally {
    history.close()
  }
}

/**
 * A collected result with when it ran: the agent reports how long it ran, not when, and a collect may come long
 * after the end, so the host's run is placed at the job's dispatch. A host that could not be asked ran for all we
 * know 0 ms (not the collect's wait).
 */
function ranAt(job: JobDetail, r: HostResult): HostResult & { startedAt: number } {
  const reported = r.status !== 'unreachable'
  return { ...r, durationMs: reported ? r.durationMs : 0, startedAt: job.startedAt }
}

/** How long the job took: until its last host ended (so far, while hosts still run it). */
function elapsedOf(job: JobDetail): number {
  if (job.durationMs !== null) return job.durationMs
  const ends = job.results.map(r => r.finishedAt)
  return ends.length === 0 ? 0 : Math.max(0, Math.max(...ends) - job.startedAt)
}

function show(job: JobDetail, running: HostResult[], json: boolean, sink: Sink): number {
  const results: HostResult[] = job.results.map((r: StoredResult) => ({ ...r }))
  const summary = {
    targeted: (job.targets ?? results).length,
    ok: 0,
    failed: 0,
    timeout: 0,
    unreachable: 0,
    refused: 0,
    cancelled: 0,
    ...(running.length > 0 ? { running: running.length } : {}),
  }
  for (const r of results) if (r.status !== 'running') summary[r.status]++
  if (json) {
    for (const r of [...results, ...running]) sink.stdout(`${JSON.stringify(hostJson(r))}\n`)
    sink.stdout(`${JSON.stringify({ summary, job: job.id, durationMs: elapsedOf(job) })}\n`)
  } else {
    const grouped = groupedOutput(results)
    if (grouped !== '') sink.stdout(grouped)
    for (const r of running) sink.stdout(`${r.host}: still running (${r.reason ?? ''})\n`)
    sink.stdout(summaryLine(summary, results, elapsedOf(job)))
  }
  return running.length > 0 ? 1 : exitCode(summary)
}
