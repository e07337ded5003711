/**
 * `ops-agent upgrade` on the agent. The artifact arrives as the signed upgrade job's push (its sha256 is part of what
 * the trusted controller signed) and is received by the push receiver like any file. Then the agent:
 *
 * 1. unpacks it into PREFIX/releases/<sha256>, checks every file against the artifact's manifest;
 * 2. writes DATA/upgrade/pending.json (from which release to which), marks the job handed over, and starts the
 *    upgrade watchdog (`ops-agent upgrade-watch`, from the old release, in its own session);
 * 3. points PREFIX/current at the new release, answers the job with `running` (the outcome is collected later), and
 *    exits with UPGRADE_RESTART_EXIT_CODE, which the supervisor or systemd restarts — now into the new release;
 * 4. the new agent, once it has started and rejoined the overlay, writes DATA/upgrade/healthy.json (confirmUpgrade);
 * 5. the watchdog commits (records `ok` with both versions, prunes old releases) or, when no confirmation came within
 *    the health timeout, points current back, stops the new release's processes and records `failed`.
 *
 * An agent not installed by deploy refuses (findInstall says why): nothing here knows how else it was installed.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '@pnet/network'
import type { Node } from '@pnet/node'
import { MAX_UPGRADE_HEALTH_MS, MIN_UPGRADE_HEALTH_MS, UPGRADE_RESTART_EXIT_CODE } from '../limits.js'
import type { Job } from '../protocol/job.js'
import type { AgentInfo, FinalReport } from '../protocol/reports.js'
import type { AuditLog } from './audit.js'
import type { JobStore } from './job-store.js'
import type { PushReceiver } from './push.js'
import type { Reporter } from './reporter.js'
import { findInstall, type Install, pointCurrent, unpackRelease } from './upgrade-release.js'

/** What the old agent leaves for the watchdog and the new agent (DATA/upgrade/pending.json). */
export interface PendingUpgrade {
  job: string
  controller: string
  prefix: string
  dataDir: string
  from: { release: string; version: string }
  to: { release: string; version: string }
  healthTimeoutMs: number
  /** epoch ms the old agent handed over */
  handedOverAt: number
}

/** What the new agent writes once it runs and has rejoined (DATA/upgrade/healthy.json). */
export interface HealthyMarker {
  job: string
  release: string
  version: string
  pid: number
}

/** Everything an upgrade or uninstall job needs from the agent that received it. */
export interface LifecycleContext {
  job: Job
  info: AgentInfo
  dataDir: string
  store: JobStore
  audit: AuditLog
  reports: Reporter
  pushes: PushReceiver
  /** fires when the controller can no longer be reached (the push is pointless then) */
  signal: AbortSignal
  log: Logger
  /** stops the agent and ends the process with `code`; called after the last report was handed to the link */
  exit(code: number): void
}

export const upgradeDir = (dataDir: string): string => join(dataDir, 'upgrade')
export const pendingFile = (dataDir: string): string => join(upgradeDir(dataDir), 'pending.json')
export const healthyFile = (dataDir: string): string => join(upgradeDir(dataDir), 'healthy.json')

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  await rename(`${file}.tmp`, file)
}

/** Reads a JSON file, or undefined when it is missing or unreadable. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

function result(status: FinalReport['status'], started: number, error?: string): FinalReport {
  return {
    type: 'result',
    status,
    exitCode: status === 'ok' ? 0 : null,
    signal: null,
    durationMs: Math.round(performance.now() - started),
    error,
  }
}

/** Refuses (before anything is claimed or received) with a reason the controller shows, and audits it. */
async function refuse(ctx: LifecycleContext, reason: string): Promise<void> {
  const { job } = ctx
  await ctx.audit.write({ job: job.id, kind: job.kind, controller: job.controller, decision: 'refused', reason })
  await ctx.reports.add({ type: 'refused', reason })
}

/** Claims the job (at most once per ID) and says `started`; false when it already ran here. */
export async function claimLifecycle(ctx: LifecycleContext): Promise<boolean> {
  const { job } = ctx
  if (!(await ctx.store.claim(job))) {
    const reason = 'job ID already executed here'
    await ctx.audit.write({ job: job.id, kind: job.kind, controller: job.controller, decision: 'duplicate', reason })
    await ctx.reports.add({ type: 'skipped', reason })
    return false
  }
  await ctx.audit.write({ job: job.id, kind: job.kind, controller: job.controller, decision: 'accepted' })
  void ctx.reports.add({ type: 'hello', info: ctx.info })
  void ctx.reports.add({ type: 'started' })
  return true
}

/** Records and reports the end of a lifecycle job that did not hand over. */
export async function finishLifecycle(ctx: LifecycleContext, final: FinalReport, stdout = ''): Promise<void> {
  const { job } = ctx
  await ctx.store.finish(job.id, final, { stdout: Buffer.from(stdout).toString('base64'), stderr: '' })
  await ctx.audit.write({
    job: job.id,
    kind: job.kind,
    controller: job.controller,
    decision: 'finished',
    status: final.status,
    reason: final.error,
  })
  if (stdout !== '')
    await ctx.reports.add({ type: 'output', stream: 'stdout', data: Buffer.from(stdout).toString('base64') })
  await ctx.reports.add(final)
}

/** Starts `ops-agent upgrade-watch PENDING` from this (the old) release, outliving this process. */
function startWatchdog(install: Install, pending: string): void {
  const [bin, script] = [process.execPath, process.argv[1] as string]
  const logDir = join(install.prefix, 'log')
  mkdirSync(logDir, { recursive: true })
  const log = openSync(join(logDir, 'upgrade.log'), 'a', 0o600)
  // under systemd the service's cgroup is killed when the agent exits: the watchdog gets a transient unit of its own
  const underSystemd = process.env.INVOCATION_ID !== undefined && existsSync('/run/systemd/system')
  const [file, args] = underSystemd
    ? [
        'systemd-run',
        ['--quiet', '--collect', '--unit', `ops-agent-upgrade-${Date.now()}`, bin, script, 'upgrade-watch', pending],
      ]
    : [bin, [script, 'upgrade-watch', pending]]
  const child = spawn(file, args, { detached: true, stdio: ['ignore', log, log] })
  child.unref()
}

/**
 * Handles a verified `upgrade` job (kind check and trust are done by the agent).
 *
 * @example
 * ```ts
 * if (job.kind === 'upgrade') return handleUpgrade({ job, info, dataDir, store, audit, reports, pushes, signal, log, exit })
 * ```
 */
export async function handleUpgrade(ctx: LifecycleContext): Promise<void> {
  const { job } = ctx
  const started = performance.now()
  const install = findInstall()
  if (typeof install === 'string') return refuse(ctx, install)
  const health = job.upgrade?.healthTimeoutMs
  if (
    job.push === undefined ||
    typeof health !== 'number' ||
    health < MIN_UPGRADE_HEALTH_MS ||
    health > MAX_UPGRADE_HEALTH_MS
  ) {
    return refuse(
      ctx,
      `an upgrade job needs the artifact (push) and a health timeout of ${MIN_UPGRADE_HEALTH_MS}..${MAX_UPGRADE_HEALTH_MS} ms`,
    )
  }
  if (existsSync(pendingFile(ctx.dataDir))) {
    return refuse(ctx, `an upgrade is already in progress here (${pendingFile(ctx.dataDir)})`)
  }
  if (!(await claimLifecycle(ctx))) return
  // the artifact lands beside the releases (same filesystem: the unpacked folder is renamed into place)
  const incoming = join(install.releases, `.incoming-${job.id.slice(0, 12)}.tar.gz`)
  const received = await ctx.pushes.receive(
    { ...job, push: { ...job.push, path: incoming, mode: '0600', owner: undefined } },
    ctx.signal,
  )
  if (received.status !== 'ok') {
    await rm(incoming, { force: true })
    return finishLifecycle(ctx, received)
  }
  let to: { dir: string; version: string }
  try {
    const r = await unpackRelease(install, incoming, job.push.sha256, job.id.slice(0, 12))
    to = { dir: r.dir, version: r.manifest.version }
  } catch (err) {
    return finishLifecycle(ctx, result('failed', started, `the artifact was refused: ${(err as Error).message}`))
  }
  if (to.dir === install.release) {
    return finishLifecycle(
      ctx,
      result('ok', started),
      `already running ${to.version} (release ${job.push.sha256.slice(0, 12)})\n`,
    )
  }
  const pending: PendingUpgrade = {
    job: job.id,
    controller: job.controller,
    prefix: install.prefix,
    dataDir: ctx.dataDir,
    from: { release: install.release, version: ctx.info.version },
    to: { release: to.dir, version: to.version },
    healthTimeoutMs: health,
    handedOverAt: Date.now(),
  }
  try {
    await mkdir(upgradeDir(ctx.dataDir), { recursive: true, mode: 0o700 })
    await rm(healthyFile(ctx.dataDir), { force: true })
    await writeJson(pendingFile(ctx.dataDir), pending)
    await ctx.store.handover(job.id)
    startWatchdog(install, pendingFile(ctx.dataDir))
    await pointCurrent(install, to.dir)
  } catch (err) {
    await rm(pendingFile(ctx.dataDir), { force: true })
    await pointCurrent(install, install.release).catch(() => {})
    return finishLifecycle(ctx, result('failed', started, `cannot switch releases: ${(err as Error).message}`))
  }
  ctx.log.info({ job: job.id, from: ctx.info.version, to: to.version }, 'upgrade: restarting into the new release')
  const note = `switching from ${ctx.info.version} to ${to.version}; restarting\n`
  await ctx.reports.add({ type: 'output', stream: 'stdout', data: Buffer.from(note).toString('base64') })
  // not final for the job: the watchdog records the outcome, `ops-agent upgrade` collects it after the restart
  await ctx.reports.add({ type: 'running', startedAt: Date.now() })
  ctx.exit(UPGRADE_RESTART_EXIT_CODE)
}

/**
 * Called by every agent once it has started: when this process is the new release of an upgrade in progress, it
 * waits until it has rejoined the overlay (a route to some peer, or no --join to wait for) and says so to the
 * watchdog. Never throws.
 *
 * @example
 * ```ts
 * void confirmUpgrade({ dataDir, node, joins: init.join ?? [], version: OPS_VERSION })
 * ```
 */
export async function confirmUpgrade(o: {
  dataDir: string
  node: Pick<Node, 'reachable'>
  joins: string[]
  version: string
  log?: Logger
}): Promise<boolean> {
  try {
    const pending = await readJson<PendingUpgrade>(pendingFile(o.dataDir))
    if (pending === undefined) return false
    const here = findInstall()
    if (typeof here === 'string' || here.release !== pending.to.release) return false
    const deadline = pending.handedOverAt + pending.healthTimeoutMs
    while (Date.now() < deadline) {
      if (o.joins.length === 0 || o.node.reachable().length > 0) {
        const marker: HealthyMarker = { job: pending.job, release: here.release, version: o.version, pid: process.pid }
        await writeJson(healthyFile(o.dataDir), marker)
        o.log?.info({ job: pending.job, version: o.version }, 'upgrade: new release up and rejoined')
        return true
      }
      await new Promise(r => setTimeout(r, 200))
    }
  } catch (err) {
    o.log?.warn({ err: String(err) }, 'upgrade: could not confirm the new release')
  }
  return false
}
