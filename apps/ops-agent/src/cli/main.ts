#!/usr/bin/env node
/**
 * `ops-agent`: agents on fleet hosts, and the controller commands that drive them through the overlay.
 *
 *   ops-agent keygen [--key FILE]
 *   ops-agent agent --data-dir DIR --listen ADDR [--join ADDR …] [--tag k=v …] --trust PEER_ID [--trust …]
 *   ops-agent exec [--key FILE] [--via ADDR] --target SEL [--target …] [--timeout 30s] [--concurrency N]
 *                  [--batch N|P%] [--max-failures N] [--json] -- CMD [ARGS …]
 *   ops-agent script FILE | push LOCAL REMOTE | status      (the same run flags as exec)
 *   ops-agent nodes [--key FILE] [--via ADDR] [--json]
 *   ops-agent job ID [--wait] | jobs [--limit N]
 *   ops-agent deploy (--ssh USER@HOST … | --inventory FILE) [--join ADDR] --trust PEER_ID [--tag k=v …] [--artifact FILE]
 *   ops-agent install-service [--config FILE] [--dry-run] [--unit-name NAME] [--bin PATH] [-- AGENT_FLAGS …]
 *   ops-agent uninstall-service [--unit-name NAME]
 *   ops-agent upgrade --target SEL --artifact FILE [--health-timeout 60s] | uninstall --target SEL [--purge]
 *   ops-agent config [--json] | completion bash | help [COMMAND] | --version
 *
 * --key and --via default to $OPS_AGENT_KEY / $OPS_AGENT_VIA, then ~/.config/ops-agent/config.json (cli/defaults.ts).
 * Exit codes: 0 every targeted host ran the command and exited 0; 1 anything else; 2 usage error; 130, 143, 129
 * cancelled by SIGINT, SIGTERM, SIGHUP; 141 stdout closed (cli/signals.ts).
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidAddressError, loadOrCreateKey, parseAddress, parsePeerId, peerIdFromKey } from '@pnet/network'
import { bashCompletion, CommandLineError, createProgram, example, parseCommandLine } from '@pnet/node/cli'
import { Argument, type Command } from 'commander'
import { pino } from 'pino'
import { startAgent } from '../agent/agent.js'
import { type AgentSettings, agentFlags, ConfigError, resolveAgentSettings } from '../agent/config.js'
import { TagError } from '../agent/tags.js'
import { execute, inventory } from '../controller/exec.js'
import { joinFleet } from '../controller/fleet.js'
import { processSink, type Sink } from '../controller/output.js'
import { OPS_VERSION } from '../protocol/reports.js'
import { controllerSettings, describeSettings, KEY_ENV, loadControllerKey, VIA_ENV } from './defaults.js'
import { jobCommand, jobsCommand } from './jobs.js'
import { agentOptions, controllerOptions, flagValues, many, runOptions } from './options.js'
import { common, needVia, runAndReport, runCommands, runFlags, UsageError } from './run.js'

export { parseDuration, UsageError } from './run.js'

import { deployCommand, deployOptions } from '../deploy/command.js'
import { DeployInputError } from '../deploy/hosts.js'
import {
  installServiceOptions,
  installServiceWith,
  ServiceUsageError,
  uninstallServiceOptions,
  uninstallServiceWith,
} from './service.js'
import { guardStdio } from './signals.js'
import { LIFECYCLE_OPTIONS, uninstallCommand, upgradeCommand, upgradeWatchCommand } from './upgrade.js'

const ROOT_HELP = `
Selectors (--target): *  id=PEER_ID  host=GLOB  TAG=GLOB; terms joined by , must all match; repeated --target
flags are alternatives. Addresses: multiaddrs or URLs (tcp://10.0.0.1:4001, ws://…, quic://…).

Controller defaults: --key is $${KEY_ENV}, else "key" in the config file, else ~/.config/ops-agent/controller.key;
--via is $${VIA_ENV}, else "via" in the config file. The config file is $XDG_CONFIG_HOME/ops-agent/config.json
(~/.config/…), JSON: {"key": "controller.key", "via": "tcp://10.0.0.1:4001", "db": "jobs.db"}. Flags always win;
\`ops-agent config\` shows what is in effect and where it came from.

Exit codes: 0 every targeted host ran the command and exited 0; 1 anything else; 2 usage error.

Example:
  ops-agent keygen && ops-agent exec --via tcp://10.0.0.1:4001 --target role=web -- uptime`

function address(flag: string, v: string): string {
  try {
    parseAddress(v)
    return v
  } catch (err) {
    if (err instanceof InvalidAddressError) throw new UsageError(`--${flag}: ${err.message}`)
    throw err
  }
}

/** Runs `handler` and turns the usage errors of modules outside cli/ into the CLI's UsageError (exit 2). */
async function usage(handler: () => Promise<number>): Promise<number> {
  try {
    return await handler()
  } catch (err) {
    if (err instanceof DeployInputError || err instanceof TagError || err instanceof ServiceUsageError) {
      throw new UsageError(err.message)
    }
    throw err
  }
}

/**
 * The command tree: every command, its flags and its help page. `main` runs it; tests and `ops-agent completion`
 * walk it. Each action hands its exit code to `done`.
 */
export function program(sink: Sink = processSink, done: (code: number) => void = () => {}): Command {
  const out = (l: string) => sink.stdout(`${l}\n`)
  const root = createProgram(
    'ops-agent',
    OPS_VERSION,
    'Agents on fleet hosts, and the controller commands that run commands, scripts and file pushes on them through the pnet overlay.',
    { stdout: t => sink.stdout(t), stderr: t => sink.stderr(t) },
  )
  root.addHelpText('after', ROOT_HELP)
  const run = (handler: () => Promise<number>) => async () => done(await usage(handler))

  const keygen = root
    .command('keygen')
    .description('create the controller key (mode 0600) if there is none, and print its peer ID')
    .option('--key <file>', 'where (default: $OPS_AGENT_KEY, else ~/.config/ops-agent/controller.key)')
  example(keygen, 'ops-agent keygen', 'ops-agent keygen --key ./ctl.key').action(
    run(async () => {
      const { key } = controllerSettings(flagValues(keygen))
      // the one controller command that creates a key: all others refuse a key file that is not there
      out(peerIdFromKey(await loadOrCreateKey(resolve(key.value))).toString())
      return 0
    }),
  )

  const agent = agentOptions(
    root
      .command('agent')
      .description('run an agent until SIGINT/SIGTERM (creates its key in --data-dir)')
      .option('--config <file>', 'a config file (TOML or YAML); flags win over it'),
  )
  example(
    agent,
    'ops-agent agent --data-dir /var/lib/ops-agent --listen tcp://0.0.0.0:4001 --join tcp://10.0.0.1:4001 --trust 12D3KooW…',
  ).action(run(() => agentCommand(flagValues(agent))))

  const exec = runOptions(
    root
      .command('exec')
      .description('run a command on every matching agent')
      .argument('[command...]', 'the command and its arguments, after --'),
  )
    .option('--cwd <dir>', 'working directory on the hosts')
    .option('--env <name=value>', 'an environment variable for the command (repeatable)', many)
    .option('--run-as <user>', 'run as this user (the agent must be root)')
  example(exec, "ops-agent exec --target 'role=web' --timeout 30s -- systemctl restart nginx").action(
    run(() => execCommand(flagValues(exec), exec.args, sink)),
  )

  const script = runOptions(
    root
      .command('script')
      .description('push a script and run it on every matching agent (the flags and output of exec)')
      .argument('[file]', 'the script')
      .argument('[args...]', 'its arguments, after --'),
  ).option('--interpreter <sh|bash|python3|node|path>', 'what runs it (default sh)')
  example(script, 'ops-agent script ./rotate-logs.sh --target host=web-* -- --keep 7').action(
    run(() => runCommand('script', flagValues(script), script.args, sink)),
  )

  const push = runOptions(
    root
      .command('push')
      .description('stream a file down the route tree to every matching agent, sha256-checked, renamed atomically')
      .argument('<local>', 'the file here')
      .argument('<remote>', 'the absolute path there; {host} becomes each host name'),
  )
    .option('--mode <octal>', 'file mode (default 0644)')
    .option('--owner <user>', 'file owner')
  example(push, "ops-agent push ./app.conf /etc/app/app.conf --target 'role=web' --mode 0640").action(
    run(() => runCommand('push', flagValues(push), push.args, sink)),
  )

  const status = runOptions(
    root
      .command('status')
      .description('host facts from every matching agent: os, kernel, uptime, load, cpu, memory, disks, interfaces'),
  )
  example(status, "ops-agent status --target '*'").action(run(() => runCommand('status', flagValues(status), [], sink)))

  const nodes = controllerOptions(
    root.command('nodes').description('list reachable agents: peer, host, version, tags, hops, RTT'),
  ).option('--json', 'print JSON')
  example(nodes, 'ops-agent nodes --via tcp://10.0.0.1:4001').action(run(() => nodesCommand(flagValues(nodes), out)))

  const job = controllerOptions(
    root
      .command('job')
      .description("a job's results from the history; collects what hosts kept (async jobs, stopped controllers)")
      .argument('<id>', 'the job ID'),
  )
    .option('--wait', 'ask again until every host has finished')
    .option('--timeout <duration>', 'how long --wait waits (default 10m)')
    .option('--json', 'one JSON line per host, then the summary')
    .option('--db <file>', 'the job history (default: ~/.config/ops-agent/jobs.db)')
  example(job, 'ops-agent job 3f9c… --wait').action(
    run(() => jobCommand(job.args[0]!, flagValues(job), sink, (flag, text) => address(flag, text))),
  )

  const jobs = root
    .command('jobs')
    .description('the job history, newest first')
    .option('--limit <n>', 'how many (default 20)')
    .option('--json', 'print JSON')
    .option('--db <file>', 'the job history (default: ~/.config/ops-agent/jobs.db)')
  example(jobs, 'ops-agent jobs --limit 5').action(run(() => jobsCommand(flagValues(jobs), sink)))

  const deploy = deployOptions(
    root
      .command('deploy')
      .description(
        'copy the agent artifact over ssh, configure and start the agent, wait until it is in the overlay (a second run changes nothing)',
      ),
  )
  example(
    deploy,
    'ops-agent deploy --inventory hosts.txt --join tcp://10.0.0.1:4001 --trust 12D3KooW… --tag env=prod',
  ).action(run(() => deployCommand(flagValues(deploy), out)))

  const install = installServiceOptions(
    root
      .command('install-service')
      .description('run the agent as a systemd service (restart on failure), enabled and started'),
  )
  example(
    install,
    'ops-agent install-service --config /etc/ops-agent/agent.toml',
    'ops-agent install-service --dry-run -- --data-dir /var/lib/ops-agent --listen tcp://0.0.0.0:4001 --trust 12D3KooW…',
  ).action(run(() => installServiceWith(flagValues(install), install.args, out)))

  const uninstallService = uninstallServiceOptions(
    root.command('uninstall-service').description('stop, disable and remove the service (its data dir stays)'),
  )
  example(uninstallService, 'ops-agent uninstall-service').action(
    run(() => uninstallServiceWith(flagValues(uninstallService), out)),
  )

  for (const name of ['upgrade', 'uninstall'] as const) {
    const cmd = LIFECYCLE_OPTIONS[name](
      runOptions(
        root
          .command(name)
          .description(
            name === 'upgrade'
              ? 'send the artifact down the route tree; each agent checks it, swaps releases, restarts, and rolls back when the new one does not rejoin'
              : 'stop the agent and remove its service and files (data kept unless --purge); each host reports before it goes',
          ),
      ),
    )
    example(
      cmd,
      name === 'upgrade'
        ? "ops-agent upgrade --target 'role=web' --batch 10% --artifact ops-agent-0.2.0-linux-x64.tar.gz"
        : "ops-agent uninstall --target 'host=old-*' --purge",
    ).action(
      run(() => {
        const values = flagValues(cmd)
        return (name === 'upgrade' ? upgradeCommand : uninstallCommand)(values, runFlags(values, name, address), sink)
      }),
    )
  }

  const watch = root
    .command('upgrade-watch', { hidden: true })
    .description('decide an upgrade (started by an upgrading agent, not by people)')
    .argument('[pending]', "the agent's pending-upgrade file")
  example(watch, 'ops-agent upgrade-watch /var/lib/ops-agent/upgrade.pending').action(
    run(() => upgradeWatchCommand(watch.args, out)),
  )

  const config = controllerOptions(
    root.command('config').description('show the controller settings in effect and where each came from'),
  )
    .option('--db <file>', 'the job history')
    .option('--json', 'print JSON')
  example(config, 'ops-agent config', 'OPS_AGENT_VIA=tcp://10.0.0.1:4001 ops-agent config --json').action(
    run(async () => {
      const values = flagValues(config)
      out(describeSettings(controllerSettings(values), values.json === true))
      return 0
    }),
  )

  example(
    root
      .command('completion')
      .description('print a shell completion script')
      .addArgument(new Argument('<shell>', 'the shell').choices(['bash'])),
    'source <(ops-agent completion bash)',
  ).action(
    run(async () => {
      sink.stdout(bashCompletion(root))
      return 0
    }),
  )
  return root
}

export async function main(argv: string[], sink: Sink = processSink): Promise<number> {
  let code = 0
  const root = program(sink, c => {
    code = c
  })
  try {
    return (await parseCommandLine(root, argv)) ?? code
  } catch (err) {
    if (err instanceof CommandLineError) throw new UsageError(err.message)
    throw err
  }
}

async function agentCommand(values: Record<string, unknown>): Promise<number> {
  let s: AgentSettings
  try {
    // a config file (TOML or YAML) and flags: a flag wins over the file
    s = await resolveAgentSettings({ config: values.config as string | undefined, flags: agentFlags(values) })
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TagError) throw new UsageError(err.message)
    throw err
  }
  const listen = s.listen.map(a => address('listen', a))
  const join = s.join.map(a => address('join', a))
  for (const t of s.trust) {
    try {
      parsePeerId(t)
    } catch (err) {
      throw new UsageError(`--trust: ${(err as Error).message}`)
    }
  }
  const logger = pino({ level: s.logLevel, base: { pid: process.pid } }, pino.destination(2))
  const agent = await startAgent({
    dataDir: resolve(s.dataDir),
    listen,
    join,
    tags: s.tags,
    trust: s.trust,
    logger,
    keepalive: {
      ...(s.keepaliveMs !== undefined ? { intervalMs: s.keepaliveMs } : {}),
      ...(s.linkTimeoutMs !== undefined ? { timeoutMs: s.linkTimeoutMs } : {}),
    },
  })
  for (const addr of agent.node.addrs) process.stdout.write(`listening ${addr.toString()}\n`)
  return new Promise(done => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      logger.info({ signal }, 'stopping')
      void agent.stop().finally(() => {
        logger.flush()
        done(0)
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}

async function execCommand(values: Record<string, unknown>, positionals: string[], sink: Sink): Promise<number> {
  const flags = runFlags(values, 'exec', address)
  if (positionals.length === 0) throw new UsageError('ops-agent exec needs a command after --')
  const env: Record<string, string> = {}
  for (const e of (values.env as string[] | undefined) ?? []) {
    const eq = e.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env "${e}" is not NAME=value`)
    env[e.slice(0, eq)] = e.slice(eq + 1)
  }
  return runAndReport(flags, sink, { kind: 'exec', argv: positionals }, ctx =>
    execute({
      ...common(flags, ctx),
      command: {
        argv: positionals,
        cwd: values.cwd as string | undefined,
        env: Object.keys(env).length > 0 ? env : undefined,
        runAs: values['run-as'] as string | undefined,
        timeoutMs: flags.timeoutMs,
      },
      detach: flags.async,
    }),
  )
}

/** script, push and status: the shared run flags plus their own. */
async function runCommand(
  name: keyof typeof runCommands,
  values: Record<string, unknown>,
  positionals: string[],
  sink: Sink,
): Promise<number> {
  return runCommands[name](values, positionals, runFlags(values, name, address), sink)
}

async function nodesCommand(values: Record<string, unknown>, out: (l: string) => void): Promise<number> {
  const settings = controllerSettings(values)
  const via = address('via', needVia(settings, 'nodes'))
  const key = await loadControllerKey(settings.key)
  const fleet = await joinFleet({ key, via })
  try {
    const peers = fleet.peers()
    const infos = await inventory(key, fleet, peers)
    const rows = peers.map(p => {
      const info = infos.get(p.toString())
      return {
        peer: p.toString(),
        host: info?.tags.hostname ?? null,
        tags: info?.tags ?? null,
        version: info?.version ?? null,
        hops: fleet.hops(p) ?? null,
        rttMs: info === undefined ? null : Math.round(info.rttMs * 10) / 10,
      }
    })
    if (values.json === true) {
      out(JSON.stringify(rows, null, 2))
      return 0
    }
    const lines = rows.map(r => [
      r.peer,
      r.host ?? '(no answer)',
      r.version ?? '-',
      String(r.hops ?? '-'),
      r.rttMs === null ? '-' : `${r.rttMs} ms`,
      r.tags === null
        ? ''
        : Object.entries(r.tags)
            .filter(([k]) => k !== 'hostname')
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
    ])
    const head = ['PEER', 'HOST', 'VERSION', 'HOPS', 'RTT', 'TAGS']
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map(l => l[i]!.length)))
    for (const l of [head, ...lines])
      out(
        l
          .map((c, i) => (i < l.length - 1 ? c.padEnd(widths[i]!) : c))
          .join('  ')
          .trimEnd(),
      )
    out(`${rows.length} agents reachable, ${rows.filter(r => r.host !== null).length} answered`)
    return 0
  } finally {
    await fleet.close()
  }
}

function isMain(): boolean {
  try {
    return (
      process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    )
  } catch {
    return false
  }
}

if (isMain()) {
  guardStdio()
  main(process.argv.slice(2)).then(
    code => {
      process.exitCode = code
    },
    (err: Error) => {
      process.stderr.write(`ops-agent: ${err.message}\n`)
      process.exitCode = err instanceof UsageError ? 2 : 1
    },
  )
}
