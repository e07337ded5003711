/**
 * Running a command on many hosts: resolve the targets, send the signed job down the routing tree in waves (batches,
 * a concurrency cap), collect what each agent reports (signed batches that come back up the same tree as replies of
 * the broadcast), and account for every targeted host — ok, failed, timeout, unreachable, refused or cancelled —
 * however the run ends: the broadcast itself names every target it could not reach, and why.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { BroadcastFailureCode } from '@pnet/router'
import { DEFAULT_KILL_GRACE_MS, DEFAULT_TIMEOUT_MS } from '../limits.js'
import {
  type CommandSpec,
  encodeSignedJob,
  type Job,
  newJobId,
  type PushSpec,
  signJob,
  type UninstallSpec,
  type UpgradeSpec,
} from '../protocol/job.js'
import { type AgentInfo, decodeReportBatch, type HostStatus, JOB_CHANNEL, type Report } from '../protocol/reports.js'
import type { Fleet } from './fleet.js'
import type { Selectors, Subject } from './selector.js'

/** How long after its timeout (plus kill grace) a host may still report before it counts as unreachable. */
const REPORT_GRACE_MS = 5_000

/**
 * A broadcast onReply that checks each batch (signed by the target it claims to come from, for this job, next in
 * sequence) and hands its reports to `onReport` in order. Anything else is dropped: a relay cannot forge, replay or
 * reorder an agent's reports.
 */
function reportCollector(
  job: string,
  onReport: (from: string, report: Report) => void,
): (from: PeerId, payload: Uint8Array) => Promise<void> {
  const next = new Map<string, number>()
  return async (from, payload) => {
    const peer = from.toString()
    let batch: Awaited<ReturnType<typeof decodeReportBatch>>
    try {
      batch = await decodeReportBatch(from, payload)
    } catch {
      return
    }
    if (batch.job !== job || batch.seq !== (next.get(peer) ?? 0)) return
    next.set(peer, batch.seq + 1)
    for (const r of batch.reports) onReport(peer, r)
  }
}

/** What a host that the broadcast could not account for counts as. */
function failureStatus(code: BroadcastFailureCode): HostStatus {
  return code === 'HANDLER_FAILED' ? 'failed' : 'unreachable'
}
/** How long the inventory waits for agents to say who they are. */
export const INVENTORY_TIMEOUT_MS = 5_000

export interface HostResult {
  peer: string
  host: string
  /** `running` only when collecting a job that has not finished there (`ops-agent job ID`) */
  status: HostStatus | 'running'
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  durationMs: number
  /** why, for unreachable, refused and failed-to-start hosts */
  reason?: string
  /** what `ops-agent status` learned of the host */
  facts?: Record<string, unknown>
}

export interface ExecSummary {
  targeted: number
  ok: number
  failed: number
  timeout: number
  unreachable: number
  refused: number
  cancelled: number
  /** only when collecting a job (`ops-agent job ID`): hosts where it still runs */
  running?: number
}

export interface ExecEvents {
  /** a piece of output as it arrives */
  output?(host: string, stream: 'stdout' | 'stderr', text: string): void
  /** a host is done */
  done?(result: HostResult): void
  /** targets resolved */
  targets?(count: number): void
  /** the job is on its way to these hosts (its ID is known) */
  dispatched?(jobId: string, peers: string[]): void
}

/** What the hosts are asked to do; `exec` by default (with `command`). */
export type JobSpec =
  | { kind: 'exec' }
  | { kind: 'status' }
  | { kind: 'push'; push: PushSpec }
  | { kind: 'collect'; collects: string }
  | { kind: 'upgrade'; push: PushSpec; upgrade: UpgradeSpec }
  | { kind: 'uninstall'; uninstall: UninstallSpec }

/** Handed to ExecOptions.during while a wave's job runs. */
export interface RunningWave {
  jobId: string
  /** the wave's hosts that have not ended yet */
  active(): string[]
  /** resolves with the hosts that said `started` (the others ended or did not answer in `timeoutMs`) */
  started(timeoutMs: number): Promise<string[]>
  /** ends a host with a status (e.g. a push chunk that could not reach it) */
  fail(peer: string, status: HostStatus, reason: string): void
}

export interface ExecOptions {
  key: PrivateKey
  fleet: Fleet
  selectors: Selectors
  /** the command for `exec` jobs; for other kinds only its timeouts count */
  command: Omit<CommandSpec, 'timeoutMs' | 'killGraceMs'> & { timeoutMs?: number; killGraceMs?: number }
  /** default `{ kind: 'exec' }` */
  job?: JobSpec
  /** a job ID chosen by the caller (default: a fresh one) */
  jobId?: string
  /** runs beside each wave's job while it is out (a push streams its chunks from here) */
  during?: (wave: RunningWave) => Promise<void>
  /** `--async`: resolve once every target has started the job (or ended); results are collected later */
  detach?: boolean
  /** hosts in flight at once (default: all of the batch) */
  concurrency?: number
  /** rolling batches: a count, or a percentage of the targets */
  batch?: { count?: number; percent?: number }
  /** stop dispatching new hosts after this many failed (ok hosts don't count) */
  maxFailures?: number
  /** fires to cancel the run (Ctrl-C): running hosts are killed, the rest marked cancelled */
  signal?: AbortSignal
  /**
   * Agents the caller knows belong, with their host names (peer ID → name). A `*` run then targets every one of them:
   * one the controller does not route to is reported `unreachable` with the reason, never left out of the count.
   */
  expect?: ReadonlyMap<string, string>
  events?: ExecEvents
}

export interface ExecRun {
  jobId: string
  results: HostResult[]
  summary: ExecSummary
  /** hosts never dispatched because --max-failures stopped the run */
  notRun: string[]
  /** routed agents that did not say who they are, so tag selectors could not be checked against them */
  unknown: string[]
  /** with `detach`: the hosts that started the job (their results are collected later with its ID) */
  accepted: string[]
  /** when the selectors matched no agent: the agents the inventory heard from and how many were routed, so the
   * caller can say why (controller/selector-hint.ts) */
  noMatch?: { known: Subject[]; reachable: number }
}

/** Asks `peers` who they are (hostname, tags) over the report path; resolves with those that answered in time. */
export async function inventory(
  key: PrivateKey,
  fleet: Fleet,
  peers: PeerId[],
  timeoutMs = INVENTORY_TIMEOUT_MS,
): Promise<Map<string, AgentInfo & { rttMs: number }>> {
  const found = new Map<string, AgentInfo & { rttMs: number }>()
  if (peers.length === 0) return found
  const signed = await signJob(key, { kind: 'inventory', targets: peers.map(String) })
  const started = performance.now()
  // every target answers or is accounted for by the broadcast, so this ends as soon as the last one has
  await fleet.node.broadcast(JOB_CHANNEL, encodeSignedJob(signed), {
    targets: peers,
    timeoutMs,
    onReply: reportCollector(signed.job.id, (from, report) => {
      if (report.type !== 'hello') return
      found.set(from, { ...report.info, rttMs: performance.now() - started })
    }),
  })
  return found
}

/** The targets for `selectors`, with what is known of each (hostname when it answered the inventory). */
export async function resolveTargets(
  key: PrivateKey,
  fleet: Fleet,
  selectors: Selectors,
): Promise<{ targets: string[]; names: Map<string, string>; unknown: string[]; known: Subject[]; reachable: number }> {
  const names = new Map<string, string>()
  if (selectors.ids !== undefined) return { targets: selectors.ids, names, unknown: [], known: [], reachable: 0 }
  const reachable = fleet.peers()
  // `*` needs no tags: every routed agent is a target, and each says its hostname in its first report
  if (selectors.all) {
    return { targets: reachable.map(String), names, unknown: [], known: [], reachable: reachable.length }
  }
  const infos = await inventory(key, fleet, reachable)
  for (const [peer, info] of infos) names.set(peer, info.tags.hostname ?? peer)
  const silent = reachable.map(String).filter(p => !infos.has(p))
  const matched = [...infos.values()].filter(i => selectors.matches({ peer: i.peer, tags: i.tags })).map(i => i.peer)
  // an agent that did not answer the inventory cannot be matched against tags: the caller warns about it
  const known = [...infos.values()].map(i => ({ peer: i.peer, tags: i.tags }))
  return { targets: matched, names, unknown: silent, known, reachable: reachable.length }
}

function emptySummary(): ExecSummary {
  return { targeted: 0, ok: 0, failed: 0, timeout: 0, unreachable: 0, refused: 0, cancelled: 0 }
}

/**
 * Runs the command on every target; resolves when every target has a final status.
 *
 * @example
 * ```ts
 * const run = await execute({ key, fleet, selectors: parseSelectors(['role=web']), command: { argv: ['uptime'] } })
 * console.log(run.summary)
 * ```
 */
export async function execute(opts: ExecOptions): Promise<ExecRun> {
  const { key, fleet } = opts
  const { targets, names, unknown, known, reachable } = await resolveTargets(key, fleet, opts.selectors)
  for (const [peer, name] of opts.expect ?? []) if (!names.has(peer)) names.set(peer, name)
  // expected agents that `*` did not resolve to (not routed): accounted for as unreachable, never dispatched
  const routedTargets = new Set(targets)
  const unrouted = opts.selectors.all ? [...(opts.expect?.keys() ?? [])].filter(p => !routedTargets.has(p)) : []
  opts.events?.targets?.(targets.length + unrouted.length)
  const jobId = opts.jobId ?? newJobId()
  const spec: JobSpec = opts.job ?? { kind: 'exec' }
  const timeoutMs = opts.command.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const killGraceMs = opts.command.killGraceMs ?? DEFAULT_KILL_GRACE_MS
  const command: CommandSpec = { ...opts.command, timeoutMs, killGraceMs }
  const results = new Map<string, HostResult>()
  interface Pending {
    out: string[]
    err: string[]
    started: number
    facts?: Record<string, unknown>
    /** it said `started` */
    running: boolean
    finish: (r: HostResult) => void
  }
  const pending = new Map<string, Pending>()
  const accepted: string[] = []
  const startWaiters = new Set<() => void>()
  const summary = emptySummary()
  summary.targeted = targets.length + unrouted.length

  const hostName = (peer: string): string => names.get(peer) ?? `${peer.slice(0, 8)}…${peer.slice(-6)}`
  const record = (r: HostResult): void => {
    if (results.has(r.peer)) return
    results.set(r.peer, r)
    if (r.status === 'running') summary.running = (summary.running ?? 0) + 1
    else summary[r.status]++
    opts.events?.done?.(r)
  }
  const final = (
    peer: string,
    status: HostResult['status'],
    reason?: string,
    extra: Partial<HostResult> = {},
  ): HostResult => {
    const p = pending.get(peer)
    return {
      peer,
      host: hostName(peer),
      status,
      exitCode: null,
      signal: null,
      stdout: p?.out.join('') ?? '',
      stderr: p?.err.join('') ?? '',
      durationMs: p === undefined ? 0 : Math.round(performance.now() - p.started),
      reason,
      facts: p?.facts,
      ...extra,
    }
  }

  for (const peer of unrouted) {
    record(final(peer, 'unreachable', 'not routed: the controller has no path to it through the agent it joined'))
  }

  const onReport = (from: string, report: Report): void => {
    const p = pending.get(from)
    if (p === undefined) return
    switch (report.type) {
      case 'hello':
        names.set(from, report.info.tags.hostname ?? from)
        return
      case 'started':
        p.running = true
        for (const wake of [...startWaiters]) wake()
        if (opts.detach === true) {
          // --async: it runs without us now; `ops-agent job ID` collects the result
          accepted.push(from)
          pending.delete(from)
          inFlight.delete(from)
          p.finish(final(from, 'ok'))
        }
        return
      case 'status':
        p.facts = report.status
        return
      case 'running':
        p.finish(final(from, 'running', `running since ${new Date(report.startedAt).toISOString()}`))
        return
      case 'output': {
        const text = Buffer.from(report.data, 'base64').toString('utf8')
        ;(report.stream === 'stdout' ? p.out : p.err).push(text)
        opts.events?.output?.(hostName(from), report.stream, text)
        return
      }
      case 'refused':
      case 'skipped':
        p.finish(final(from, 'refused', report.reason))
        return
      case 'result':
        p.finish(
          final(from, report.status, report.error, {
            exitCode: report.exitCode,
            signal: report.signal,
            durationMs: report.durationMs,
          }),
        )
        return
      default:
        return
    }
  }
  const collect = reportCollector(jobId, onReport)

  const cancelled = (): boolean => opts.signal?.aborted === true
  const inFlight = new Set<string>()

  /** Sends one wave (a signed job for these peers) and resolves when each of them has a final result. */
  async function dispatch(wave: string[]): Promise<void> {
    const done = wave.map(
      peer =>
        new Promise<void>(resolve => {
          let settled = false
          pending.set(peer, {
            out: [],
            err: [],
            started: performance.now(),
            running: false,
            finish: r => {
              if (settled) return
              settled = true
              if (opts.detach !== true || r.status !== 'ok' || !accepted.includes(peer)) record(r)
              pending.delete(peer)
              inFlight.delete(peer)
              resolve()
            },
          })
          inFlight.add(peer)
        }),
    )
    const fields: Partial<Job> =
      spec.kind === 'exec'
        ? { command }
        : spec.kind === 'push'
          ? { push: spec.push }
          : spec.kind === 'upgrade'
            ? { push: spec.push, upgrade: spec.upgrade }
            : spec.kind === 'uninstall'
              ? { uninstall: spec.uninstall }
              : spec.kind === 'collect'
                ? { collects: spec.collects }
                : {}
    const signed = await signJob(key, { id: jobId, kind: spec.kind, targets: wave, ...fields })
    opts.events?.dispatched?.(jobId, wave)
    const running: RunningWave = {
      jobId,
      active: () => wave.filter(p => pending.has(p)),
      started: ms =>
        new Promise<string[]>(resolve => {
          const check = (): void => {
            const open = wave.filter(p => pending.has(p))
            if (open.every(p => pending.get(p)?.running === true)) {
              clearTimeout(timer)
              startWaiters.delete(check)
              resolve(open)
            }
          }
          const timer = setTimeout(() => {
            startWaiters.delete(check)
            resolve(wave.filter(p => pending.get(p)?.running === true))
          }, ms)
          startWaiters.add(check)
          check()
        }),
      fail: (peer, status, reason) => pending.get(peer)?.finish(final(peer, status, reason)),
    }
    const beside = opts.during?.(running).catch(err => {
      for (const peer of running.active()) running.fail(peer, 'failed', (err as Error).message)
    })
    const broadcasting = (async () => {
      try {
        const report = await fleet.node.broadcast(JOB_CHANNEL, encodeSignedJob(signed), {
          targets: wave.map(p => peerIdFromString(p)),
          timeoutMs: timeoutMs + killGraceMs + REPORT_GRACE_MS,
          onReply: collect,
        })
        for (const f of report.failed) {
          const peer = f.peer.toString()
          const reason =
            f.code === 'TIMEOUT' ? `no result within ${timeoutMs + killGraceMs + REPORT_GRACE_MS} ms` : f.reason
          pending.get(peer)?.finish(final(peer, failureStatus(f.code), reason || f.code))
        }
        // delivered means its handler returned: it ended with a final report, unless that report was lost
        for (const peer of report.delivered.map(String)) {
          pending.get(peer)?.finish(final(peer, 'failed', 'the agent finished without a valid result report'))
        }
      } catch (err) {
        for (const peer of wave) pending.get(peer)?.finish(final(peer, 'unreachable', (err as Error).message))
      }
    })()
    // detached, the job goes on without us once every host started it; otherwise we see it to the end
    if (opts.detach !== true) await broadcasting
    await Promise.all(done)
    await beside
  }

  const onCancel = async (): Promise<void> => {
    const running = [...inFlight]
    if (running.length === 0) return
    const signed = await signJob(key, { kind: 'cancel', targets: running, cancels: jobId })
    await fleet.node
      .broadcast(JOB_CHANNEL, encodeSignedJob(signed), { targets: running.map(p => peerIdFromString(p)) })
      .catch(() => undefined)
    // agents answer with status cancelled; whoever does not within the grace is marked so by us
    setTimeout(() => {
      for (const peer of [...pending.keys()])
        pending.get(peer)?.finish(final(peer, 'cancelled', 'cancelled by the controller'))
    }, killGraceMs + 2_000).unref()
  }
  const onAbort = (): void => void onCancel()
  opts.signal?.addEventListener('abort', onAbort, { once: true })

  const waves = planWaves(targets, opts.batch)
  const notRun: string[] = []
  const concurrency = Math.max(1, opts.concurrency ?? Number.POSITIVE_INFINITY)
  try {
    for (let w = 0; w < waves.length; w++) {
      const wave = waves[w]!
      if (cancelled() || tooManyFailures(summary, opts.maxFailures)) {
        notRun.push(...waves.slice(w).flat())
        break
      }
      // within a wave, at most `concurrency` hosts at once: a sliding window
      const queue = [...wave]
      const workers: Promise<void>[] = []
      const next = async (): Promise<void> => {
        while (queue.length > 0 && !cancelled() && !tooManyFailures(summary, opts.maxFailures)) {
          const take = Number.isFinite(concurrency) ? [queue.shift()!] : queue.splice(0)
          await dispatch(take)
        }
      }
      const lanes = Number.isFinite(concurrency) ? Math.min(concurrency, wave.length) : 1
      for (let i = 0; i < lanes; i++) workers.push(next())
      await Promise.all(workers)
      notRun.push(...queue)
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
  }
  for (const peer of notRun) {
    record({
      peer,
      host: hostName(peer),
      status: 'cancelled',
      exitCode: null,
      signal: null,
      stdout: '',
      stderr: '',
      durationMs: 0,
      reason: cancelled() ? 'cancelled before it ran' : 'not run: too many failures (--max-failures)',
    })
  }
  return {
    jobId,
    results: [...targets, ...unrouted].map(t => results.get(t)!).filter(r => r !== undefined),
    summary,
    notRun,
    unknown,
    accepted,
    ...(targets.length + unrouted.length === 0 ? { noMatch: { known, reachable } } : {}),
  }
}

function tooManyFailures(s: ExecSummary, max: number | undefined): boolean {
  return max !== undefined && s.failed + s.timeout + s.unreachable + s.refused >= max
}

/** Splits targets into rolling batches (all at once without --batch). */
export function planWaves(targets: string[], batch: ExecOptions['batch']): string[][] {
  let size = targets.length
  if (batch?.count !== undefined) size = batch.count
  else if (batch?.percent !== undefined) size = Math.ceil((targets.length * batch.percent) / 100)
  size = Math.max(1, size)
  const waves: string[][] = []
  for (let i = 0; i < targets.length; i += size) waves.push(targets.slice(i, i + size))
  return waves
}
