/**
 * `ops-agent install-service` and `ops-agent uninstall-service`: flags → the systemd unit writer in src/service.
 */
import { existsSync, realpathSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import { agentFlags, ConfigError, resolveAgentSettings } from '../agent/config.js'
import {
  installService,
  renderUnit,
  ServiceError,
  type SystemdEnv,
  uninstallService,
  unitName,
} from '../service/systemd.js'
import { agentOptions, flagValues, parseWords } from './options.js'

/** Bad flags or a bad config for install-service: a usage error (exit 2) for the CLI. */
export class ServiceUsageError extends Error {
  override readonly name: string = 'ServiceUsageError'
  readonly code: string = 'ERR_SERVICE_USAGE'
}

/** install-service's own flags, and the agent flags after `--`. */
export function installServiceOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'the agent config file (TOML or YAML) the service runs with')
    .option('--dry-run', 'print the unit instead of installing it')
    .option('--unit-name <name>', 'the systemd unit (default ops-agent)')
    .option('--bin <path>', 'the ops-agent executable to run (default: this CLI, by node and script)')
    .argument('[agent-flags...]', 'agent flags after --, written into the unit')
}

/** uninstall-service's flags. */
export function uninstallServiceOptions(cmd: Command): Command {
  return cmd.option('--unit-name <name>', 'the systemd unit (default ops-agent)')
}

const usageError = (message: string): Error => new ServiceUsageError(message)

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
  const cmd = parseWords(installServiceOptions(new Command('install-service')), args, usageError)
  return installServiceWith(flagValues(cmd), cmd.args, out, err, env)
}

/** install-service with its flags parsed (by flag name) and the agent flags that came after `--`. */
export async function installServiceWith(
  values: Record<string, unknown>,
  agentArgs: string[],
  out: (line: string) => void,
  err: (line: string) => void = l => process.stderr.write(`${l}\n`),
  env: SystemdEnv = {},
): Promise<number> {
  const dryRun = values['dry-run'] === true
  let name: string
  try {
    name = unitName((values['unit-name'] as string | undefined) ?? 'ops-agent')
  } catch (e) {
    throw new ServiceUsageError((e as Error).message)
  }
  const config = typeof values.config === 'string' ? resolve(values.config) : undefined
  const agent = flagValues(
    parseWords(agentOptions(new Command('agent')), agentArgs, m => new ServiceUsageError(`after --: ${m}`)),
  )
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
  // in the order they were given, so the unit reads like the command line it came from
  const given = (k: string): number => agentArgs.findIndex(a => a === `--${k}` || a.startsWith(`--${k}=`))
  for (const [k, v] of Object.entries(agent).sort(([a], [b]) => given(a) - given(b))) {
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
  const values = flagValues(parseWords(uninstallServiceOptions(new Command('uninstall-service')), args, usageError))
  return uninstallServiceWith(values, out, err, env)
}

/** uninstall-service with its flags parsed (by flag name). */
export async function uninstallServiceWith(
  values: Record<string, unknown>,
  out: (line: string) => void,
  err: (line: string) => void = l => process.stderr.write(`${l}\n`),
  env: SystemdEnv = {},
): Promise<number> {
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
