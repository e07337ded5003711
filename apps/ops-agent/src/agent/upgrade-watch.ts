/**
 * The upgrade watchdog (`ops-agent upgrade-watch PENDING`): started by the old agent right before it exits into a
 * new release, it decides the upgrade. The new release confirms by writing DATA/upgrade/healthy.json once it runs
 * and has rejoined; the watchdog then records `ok` with both versions. Without that confirmation within the health
 * timeout (the new release crashed at start, crash-loops, hangs, or cannot reach the overlay) it points
 * PREFIX/current back at the old release, stops what runs from the new one (the supervisor then starts the old), and
 * records `failed` with the reason. Either way the result goes into the job store under the upgrade's job ID, where
 * `ops-agent upgrade` (a collect job) picks it up.
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { UPGRADE_KILL_GRACE_MS } from '../limits.js'
import type { FinalReport } from '../protocol/reports.js'
import { AuditLog } from './audit.js'
import { JobStore } from './job-store.js'
import { type HealthyMarker, healthyFile, type PendingUpgrade, pendingFile, readJson } from './upgrade.js'
import { pointCurrent, pruneReleases } from './upgrade-release.js'

/** Pids whose executable lies under `dir` (the launcher execs the release's own lib/node). */
function processesUnder(dir: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      if (readlinkSync(`/proc/${name}/exe`).startsWith(`${dir}/`)) out.push(Number(name))
    } catch {}
  }
  return out
}

async function stopProcessesUnder(dir: string): Promise<number> {
  const pids = processesUnder(dir)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
  }
  const deadline = Date.now() + UPGRADE_KILL_GRACE_MS
  while (Date.now() < deadline && processesUnder(dir).length > 0) await new Promise(r => setTimeout(r, 100))
  for (const pid of processesUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  return pids.length
}

/** The last non-empty line of the agent's log, as a hint why a release did not come up. */
async function lastLogLine(prefix: string): Promise<string | undefined> {
  const text = await readFile(join(prefix, 'log', 'agent.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('supervisor:'))
    .pop()
    ?.slice(0, 300)
}

export interface WatchOutcome {
  status: 'ok' | 'failed'
  message: string
}

/**
 * Runs the watchdog for the upgrade described by `pendingPath` until it is decided.
 *
 * @example
 * ```ts
 * await watchUpgrade('/opt/ops-agent/data/upgrade/pending.json')
 * ```
 */
export async function watchUpgrade(pendingPath: string, pollMs = 200): Promise<WatchOutcome> {
  const p = await readJson<PendingUpgrade>(pendingPath)
  if (p === undefined) throw new Error(`no upgrade in progress at ${pendingPath}`)
  const started = Date.now()
  const deadline = started + p.healthTimeoutMs
  const store = new JobStore(p.dataDir)
  const audit = new AuditLog(join(p.dataDir, 'audit.log'))
  const install = { current: join(p.prefix, 'current'), releases: join(p.prefix, 'releases') }
  const finish = async (status: 'ok' | 'failed', message: string): Promise<WatchOutcome> => {
    const final: FinalReport = {
      type: 'result',
      status,
      exitCode: status === 'ok' ? 0 : null,
      signal: null,
      durationMs: Date.now() - p.handedOverAt,
      ...(status === 'failed' ? { error: message } : {}),
    }
    const stdout = status === 'ok' ? `${message}\n` : ''
    await store.finish(p.job, final, { stdout: Buffer.from(stdout).toString('base64'), stderr: '' })
    await audit.write({
      job: p.job,
      kind: 'upgrade',
      controller: p.controller,
      decision: 'finished',
      status,
      reason: message,
    })
    await rm(healthyFile(p.dataDir), { force: true })
    await rm(pendingFile(p.dataDir), { force: true })
    return { status, message }
  }
  for (;;) {
    const healthy = await readJson<HealthyMarker>(healthyFile(p.dataDir))
    if (healthy !== undefined && healthy.job === p.job && healthy.release === p.to.release) {
      // keep the new release and the one before it (a manual rollback is `ln -sfn` away); older ones go
      await pruneReleases(install, [p.to.release, p.from.release])
      return finish('ok', `upgraded ${p.from.version} -> ${healthy.version} (release ${p.to.release.slice(-64, -52)})`)
    }
    if (Date.now() >= deadline) break
    await new Promise(r => setTimeout(r, pollMs))
  }
  await pointCurrent(install, p.from.release)
  const stopped = await stopProcessesUnder(p.to.release)
  const hint = await lastLogLine(p.prefix)
  await rm(p.to.release, { recursive: true, force: true })
  return finish(
    'failed',
    `${p.to.version} did not start and rejoin within ${Math.round(p.healthTimeoutMs / 1000)} s` +
      `${stopped > 0 ? ` (stopped ${stopped} of its processes)` : ''}; rolled back to ${p.from.version}` +
      `${hint === undefined ? '' : `; last log line: ${hint}`}`,
  )
}
