/**
 * `ops-agent install-service` and `ops-agent uninstall-service`: flags → the systemd unit writer in src/service.
 */
import { existsSync, realpathSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { agentFlags, ConfigError, resolveAgentSettings } from '../agent/config.js'
import {
  installService,
  renderUnit,
  ServiceError,
  type SystemdEnv,
  uninstallService,
  unitName,
} from '../service/systemd.js'

export const SERVICE_USAGE = `install-service [--config FILE] [--dry-run] [--unit-name ops-agent] [--bin PATH] [-- AGENT_FLAGS …]
                                                 run the agent as a systemd service (restart on failure), enabled
                                                 and started; --dry-run prints the unit instead
  uninstall-service [--unit-name ops-agent]      stop, disable and remove the service (its data dir stays)`

/** Bad flags or a bad config for install-service: a usage error (exit 2) for the CLI. */
export class ServiceUsageError extends Error {}

/** The agent's flags, as install-service accepts them after `--`. */
const AGENT_OPTIONS: ParseArgsOptionsConfig = {
  'data-dir': { type: 'string' },
  listen: { type: 'string', multiple: true },
  join: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  trust: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'keepalive-ms': { type: 'string' },
  'link-timeout-ms': { type: 'string' },
}

function parse(args: string[], options: ParseArgsOptionsConfig, positionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true })
  } catch (err) {
    throw new ServiceUsageError((err as Error).message)
  }
}

/** This CLI, as node + script, with symlinks resolved (systemd runs it without our PATH or working directory). */
function selfCommand(): string[] {
  // built: dist/cli/service.js next to main.js; from source (tests, tsx): src/cli/service.ts, the build in dist/
  for (const rel of ['./main.js', '../../dist/cli/main.js']) {
    const file = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(file)) return [process.execPath, realpathSync(file)]
  }
  throw new ServiceUsageError('cannot find the ops-agent CLI script to run; give --bin PATH')
}

/**
 * Refuses a config that someone other than root could change: whoever can edit it decides which controllers this
 * host obeys, as root.
 */
async function checkConfigOwner(file: string): Promise<string | undefined> {
  const info = await stat(file)
  if ((info.mode & 0o022) !== 0) {
    return `${file} is writable by group or others (mode ${(info.mode & 0o777).toString(8)}); whoever can edit it decides which controllers this host obeys: chmod go-w ${file}`
  }
  if (process.getuid?.() === 0 && info.uid !== 0) {
    return `${file} is owned by uid ${info.uid}, not root; whoever owns it decides which controllers this host obeys: chown root ${file}`
  }
  return undefined
}

/**
 * Runs `ops-agent install-service ARGS`; resolves to the exit code. `env` redirects systemd (tests).
 *
 * @example
 * ```ts
 * await installServiceCommand(['--config', '/etc/ops-agent/agent.toml', '--dry-run'], line => console.log(line))
 * ```
 */
export async function installServiceCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = l => process.stderr.write(`${l}\n`),
  env: SystemdEnv = {},
): Promise<number> {
  const dash = args.indexOf('--')
  const own = dash === -1 ? args : args.slice(0, dash)
  const agentArgs = dash === -1 ? [] : args.slice(dash + 1)
  const { values } = parse(
    own,
    {
      config: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'unit-name': { type: 'string' },
      bin: { type: 'string' },
    },
    false,
  )
  const dryRun = values['dry-run'] === true
  let name: string
  try {
    name = unitName((values['unit-name'] as string | undefined) ?? 'ops-agent')
  } catch (e) {
    throw new ServiceUsageError((e as Error).message)
  }
  const config = typeof values.config === 'string' ? resolve(values.config) : undefined
  const agent = parse(agentArgs, AGENT_OPTIONS, false).values
  if (config === undefined && agentArgs.length === 0) {
    throw new ServiceUsageError('install-service needs --config FILE or the agent flags after --')
  }
  // the unit must start an agent that works: check the config and flags now, not at the next boot
  try {
    await resolveAgentSettings({ ...(config !== undefined ? { config } : {}), flags: agentFlags(agent) })
  } catch (e) {
    if (e instanceof ConfigError) throw new ServiceUsageError(e.message)
    throw e
  }
  if (config !== undefined) {
    const problem = await checkConfigOwner(config)
    if (problem !== undefined) {
      if (!dryRun) throw new ServiceUsageError(problem)
      err(`warning: ${problem}`)
    }
  }
  let command = selfCommand()
  if (typeof values.bin === 'string') {
    const bin = resolve(values.bin)
    const exists = await stat(bin).then(
      s => s.isFile(),
      () => false,
    )
    if (!exists && !dryRun) throw new ServiceUsageError(`--bin ${bin} is not a file`)
    command = [bin]
  }
  // flags written out again from what was parsed: normalized, and data-dir absolute (a service starts in /)
  const flagWords: string[] = []
  for (const [k, v] of Object.entries(agent)) {
    if (v === undefined) continue
    const value = k === 'data-dir' ? resolve(v as string) : v
    for (const item of Array.isArray(value) ? value : [value]) flagWords.push(`--${k}`, String(item))
  }
  const execStart = [...command, 'agent', ...(config !== undefined ? ['--config', config] : []), ...flagWords]
  const unit = renderUnit({ execStart })
  if (dryRun) {
    out(unit.trimEnd())
    return 0
  }
  try {
    const r = await installService(name, unit, env)
    out(`${r.action} ${r.unitPath}; ${name}.service is enabled and running (journalctl -u ${name} for its log)`)
    return 0
  } catch (e) {
    if (e instanceof ServiceError) {
      err(`ops-agent: ${e.message}`)
      return 1
    }
    throw e
  }
}

/**
 * Runs `ops-agent uninstall-service ARGS`; resolves to the exit code.
 *
 * @example
 * ```ts
 * await uninstallServiceCommand([], line => console.log(line))
 * ```
 */
export async function uninstallServiceCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = l => process.stderr.write(`${l}\n`),
  env: SystemdEnv = {},
): Promise<number> {
  const { values } = parse(args, { 'unit-name': { type: 'string' } }, false)
  let name: string
  try {
    name = unitName((values['unit-name'] as string | undefined) ?? 'ops-agent')
  } catch (e) {
    throw new ServiceUsageError((e as Error).message)
  }
  try {
    const r = await uninstallService(name, env)
    out(`${name}.service stopped and disabled; removed ${r.unitPath} (the agent's data dir is kept)`)
    return 0
  } catch (e) {
    if (e instanceof ServiceError) {
      err(`ops-agent: ${e.message}`)
      return 1
    }
    throw e
  }
}
