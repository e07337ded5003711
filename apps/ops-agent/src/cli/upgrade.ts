/**
 * `ops-agent upgrade`, `ops-agent uninstall` (through the overlay, the run flags of exec) and the hidden
 * `ops-agent upgrade-watch PENDING` that an upgrading agent starts to decide its own upgrade.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { watchUpgrade } from '../agent/upgrade-watch.js'
import { execute } from '../controller/exec.js'
import type { Sink } from '../controller/output.js'
import { upgradeFleet } from '../controller/upgrade.js'
import { MAX_UPGRADE_HEALTH_MS, MIN_UPGRADE_HEALTH_MS } from '../limits.js'
import { common, parseDuration, type RunFlags, runAndReport, UsageError } from './run.js'

/** Own flags of upgrade and uninstall (besides the run flags). */
export const LIFECYCLE_OPTIONS: Record<'upgrade' | 'uninstall', (cmd: Command) => Command> = {
  upgrade: cmd =>
    cmd
      .option('--artifact <file>', 'the release to install (npm run build:agent)')
      .option('--health-timeout <duration>', 'how long a new release has to start and rejoin (default 60s)'),
  uninstall: cmd => cmd.option('--purge', "also remove the agent's data dir"),
}

/**
 * Runs `ops-agent upgrade` with parsed flags; resolves to the exit code (0 when every host ended `ok`).
 *
 * @example
 * ```ts
 * await upgradeCommand({ artifact: 'ops-agent-0.2.0-linux-x64.tar.gz' }, runFlags(values, 'upgrade', address), sink)
 * ```
 */
export async function upgradeCommand(values: Record<string, unknown>, flags: RunFlags, sink: Sink): Promise<number> {
  const artifact = values.artifact
  if (typeof artifact !== 'string' || artifact === '') throw new UsageError('ops-agent upgrade needs --artifact FILE')
  if (flags.async) throw new UsageError('ops-agent upgrade streams the artifact from here: --async is not supported')
  let healthTimeoutMs: number | undefined
  if (typeof values['health-timeout'] === 'string') {
    healthTimeoutMs = parseDuration('--health-timeout', values['health-timeout'])
    if (healthTimeoutMs < MIN_UPGRADE_HEALTH_MS || healthTimeoutMs > MAX_UPGRADE_HEALTH_MS) {
      throw new UsageError(
        `--health-timeout must be ${MIN_UPGRADE_HEALTH_MS / 1000} s to ${MAX_UPGRADE_HEALTH_MS / 60_000} min, got "${values['health-timeout']}"`,
      )
    }
  }
  const local = resolve(artifact)
  return runAndReport(flags, sink, { kind: 'push', push: { local, remote: '(upgrade)' } }, ctx =>
    upgradeFleet({
      ...common(flags, ctx),
      artifact: local,
      healthTimeoutMs,
      ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }),
    }),
  )
}

/**
 * Runs `ops-agent uninstall` with parsed flags.
 *
 * @example
 * ```ts
 * await uninstallCommand({ purge: true }, runFlags(values, 'uninstall', address), sink)
 * ```
 */
export async function uninstallCommand(values: Record<string, unknown>, flags: RunFlags, sink: Sink): Promise<number> {
  if (flags.async) throw new UsageError('ops-agent uninstall reports as each host goes: --async is not supported')
  const purge = values.purge === true
  return runAndReport(flags, sink, { kind: 'exec', argv: [purge ? '(uninstall --purge)' : '(uninstall)'] }, ctx =>
    execute({
      ...common(flags, ctx),
      job: { kind: 'uninstall', uninstall: { purge } },
      command: { argv: [], timeoutMs: flags.timeoutMs ?? 60_000, killGraceMs: 0 },
    }),
  )
}

/** `ops-agent upgrade-watch PENDING` (started by an upgrading agent, not by people): decides the upgrade. */
export async function upgradeWatchCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [pending, extra] = args
  if (pending === undefined || extra !== undefined) throw new UsageError('ops-agent upgrade-watch needs PENDING_FILE')
  const outcome = await watchUpgrade(resolve(pending))
  out(`${new Date().toISOString()} upgrade ${outcome.status}: ${outcome.message}`)
  return outcome.status === 'ok' ? 0 : 1
}
