/**
 * `ops-agent uninstall` on the agent: remove what deploy installed, report, then stop. Order matters, because the
 * report has to leave while the agent can still send it:
 *
 * 1. the service stops being persistent (systemd: disabled and its unit removed; detached: its supervisor script
 *    removed), so nothing starts the agent again;
 * 2. releases, `current`, etc/, log/ and run/ are removed (the running program is already in memory);
 * 3. the final report (`ok`, with what was removed) is handed to the link;
 * 4. with --purge the data dir goes too (key, job records, audit log), and the prefix if it is then empty;
 * 5. the service is stopped (systemd: `systemctl stop --no-block`; detached: SIGTERM to the supervisor, which stops
 *    the agent), or the agent exits by itself when nothing supervises it.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile, rm, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { FinalReport } from '../protocol/reports.js'
import { claimLifecycle, finishLifecycle, type LifecycleContext } from './upgrade.js'
import { findInstall } from './upgrade-release.js'

function systemctl(args: string[]): Promise<string | undefined> {
  return new Promise(r =>
    execFile('systemctl', args, { timeout: 60_000 }, (err, _o, stderr) =>
      r(err === null ? undefined : `systemctl ${args.join(' ')}: ${stderr.trim() || err.message}`),
    ),
  )
}

/** How deploy keeps this agent running: PREFIX/etc/service says `detached` or `systemd UNIT`. */
async function serviceOf(prefix: string): Promise<{ kind: 'detached' } | { kind: 'systemd'; unit: string }> {
  const text = (await readFile(join(prefix, 'etc', 'service'), 'utf8').catch(() => 'detached')).trim()
  const m = /^systemd ([A-Za-z0-9:_.@-]+)$/.exec(text)
  return m === null ? { kind: 'detached' } : { kind: 'systemd', unit: m[1]! }
}

/**
 * Handles a verified `uninstall` job.
 *
 * @example
 * ```ts
 * if (job.kind === 'uninstall') return handleUninstall(ctx)
 * ```
 */
export async function handleUninstall(ctx: LifecycleContext): Promise<void> {
  const { job } = ctx
  const started = performance.now()
  const install = findInstall()
  if (typeof install === 'string') {
    const reason = install.replace('upgrade or remove it', 'remove it')
    await ctx.audit.write({ job: job.id, kind: job.kind, controller: job.controller, decision: 'refused', reason })
    await ctx.reports.add({ type: 'refused', reason })
    return
  }
  if (!(await claimLifecycle(ctx))) return
  const purge = job.uninstall?.purge === true
  const { prefix } = install
  const service = await serviceOf(prefix)
  const supervisorPid = Number((await readFile(join(prefix, 'run', 'supervisor.pid'), 'utf8').catch(() => '')).trim())
  const removed: string[] = []
  const problems: string[] = []
  if (service.kind === 'systemd') {
    const unitFile = `/etc/systemd/system/${service.unit}.service`
    for (const step of [['disable', `${service.unit}.service`]]) {
      const err = await systemctl(step)
      if (err !== undefined) problems.push(err)
    }
    await rm(unitFile, { force: true })
    removed.push(unitFile)
    const err = await systemctl(['daemon-reload'])
    if (err !== undefined) problems.push(err)
  }
  const dataDir = resolve(ctx.dataDir)
  for (const name of ['current', 'releases', 'etc', 'log', 'run']) {
    const path = join(prefix, name)
    // the data dir may have been put under one of these by hand: never remove it without --purge
    if (!purge && dataDir.startsWith(`${path}/`)) continue
    try {
      await rm(path, { recursive: true, force: true })
      removed.push(path)
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`)
    }
  }
  const status = problems.length === 0 ? 'ok' : 'failed'
  const final: FinalReport = {
    type: 'result',
    status,
    exitCode: status === 'ok' ? 0 : null,
    signal: null,
    durationMs: Math.round(performance.now() - started),
    ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
  }
  const kept = purge ? 'data removed too' : `data kept in ${dataDir}`
  const stdout = `uninstalled from ${prefix} (${service.kind}); removed ${removed.length} paths; ${kept}; stopping\n`
  await finishLifecycle(ctx, final, stdout)
  if (purge) {
    await rm(dataDir, { recursive: true, force: true }).catch(() => {})
    if ((await readdir(prefix).catch(() => ['?'])).length === 0) await rmdir(prefix).catch(() => {})
  }
  ctx.log.info({ job: job.id, prefix, purge }, 'uninstall: stopping')
  if (service.kind === 'systemd') {
    // --no-block: systemd stops us after this call returns (SIGTERM → a clean stop)
    if ((await systemctl(['stop', '--no-block', `${service.unit}.service`])) === undefined) return
  } else if (Number.isSafeInteger(supervisorPid) && supervisorPid > 0) {
    try {
      // the supervisor's TERM trap stops the agent (SIGTERM) and exits; nothing restarts either
      process.kill(supervisorPid, 'SIGTERM')
      return
    } catch {}
  }
  ctx.exit(0)
}
