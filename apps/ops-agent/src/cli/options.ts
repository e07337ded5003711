/**
 * The flags commands share, defined once for commander (help, "did you mean", completion all come from these), and
 * the parsed values handed to the command handlers keyed by flag name (`max-failures`, not `maxFailures`): the
 * shape the handlers and `agentFlags` have always taken.
 */
import { type Command, CommanderError, Option } from 'commander'
import { LOG_LEVELS } from '../agent/config.js'

/** Collects a repeatable flag into an array. */
export function many(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** The values of `cmd`'s flags that were given, keyed by long flag name without the dashes. */
export function flagValues(cmd: Command): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const o of cmd.options) {
    const v: unknown = cmd.getOptionValue(o.attributeName())
    if (v !== undefined && o.long !== undefined) values[o.long.replace(/^--/, '')] = v
  }
  return values
}

/** --key and --via, for every command that joins the fleet as a controller. */
export function controllerOptions(cmd: Command): Command {
  return cmd
    .option('--key <file>', "the controller's key (default: $OPS_AGENT_KEY, else ~/.config/ops-agent/controller.key)")
    .option('--via <addr>', 'an agent to join the overlay through (default: $OPS_AGENT_VIA, else config.json "via")')
}

/** The flags of every command that runs something on hosts: exec, script, push, status, upgrade, uninstall. */
export function runOptions(cmd: Command): Command {
  return controllerOptions(cmd)
    .option('--target <selector>', 'which agents: *, id=PEER_ID, host=GLOB, TAG=GLOB (repeat: alternatives)', many)
    .option('--timeout <duration>', 'per-host time limit: 500ms, 30s, 5m, 1h')
    .option('--concurrency <n>', 'hosts running at once')
    .option('--batch <n|p%>', 'roll out in waves of N hosts or P% of them')
    .option('--max-failures <n>', 'stop starting new hosts after N failures')
    .option('--json', 'one JSON line per host, then the summary')
    .option('--async', 'return the job ID at once; collect with `ops-agent job ID`')
    .option('--db <file>', 'the job history (default: ~/.config/ops-agent/jobs.db)')
}

/** The agent's own flags: `agent`, and `install-service -- …` which writes them into the unit. */
export function agentOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', "the agent's key, jobs and audit log")
    .option('--listen <addr>', 'an address to listen on (repeatable)', many)
    .option('--join <addr>', 'an agent already in the overlay (repeatable)', many)
    .option('--tag <key=value>', 'a tag selectors can match (repeatable)', many)
    .option('--trust <peer-id>', 'a controller this agent obeys (repeatable)', many)
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .option('--keepalive-ms <n>', 'keepalive interval in ms')
    .option('--link-timeout-ms <n>', 'drop a link silent this long, in ms')
}

/**
 * Parses `args` with `cmd` alone (not as part of the CLI's tree), for handlers that are also called with words:
 * `installServiceCommand(['--config', f])`, and the agent flags after `install-service --`. A command line that does
 * not parse becomes `toError(message)`.
 */
export function parseWords(cmd: Command, args: string[], toError: (message: string) => Error): Command {
  cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} })
    .action(() => {})
  try {
    cmd.parse(args, { from: 'user' })
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    throw toError(err.message.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\)$/, ' (did you mean $1)'))
  }
  return cmd
}
