#!/usr/bin/env node
/**
 * `ops-agent`: agents on fleet hosts, and the controller commands that drive them through the overlay.
 *
 *   ops-agent keygen --key FILE
 *   ops-agent agent --data-dir DIR --listen ADDR [--join ADDR …] [--tag k=v …] --trust PEER_ID [--trust …]
 *   ops-agent exec --key FILE --via ADDR --target SEL [--target …] [--timeout 30s] [--concurrency N]
 *                  [--batch N|P%] [--max-failures N] [--json] -- CMD [ARGS …]
 *   ops-agent nodes --key FILE --via ADDR [--json]
 *   ops-agent deploy (--ssh USER@HOST … | --inventory FILE) [--join ADDR] --trust PEER_ID [--tag k=v …] [--artifact FILE]
 *   ops-agent install-service [--config FILE] [--dry-run] [--unit-name NAME] [--bin PATH] [-- AGENT_FLAGS …]
 *   ops-agent uninstall-service [--unit-name NAME]
 *   ops-agent upgrade --key FILE --via ADDR --target SEL --artifact FILE [--health-timeout 60s]
 *   ops-agent uninstall --key FILE --via ADDR --target SEL [--purge]
 *
 * Exit codes: 0 every targeted host ran the command and exited 0; 1 anything else; 2 usage error; 130, 143, 129
 * cancelled by SIGINT, SIGTERM, SIGHUP; 141 stdout closed (cli/signals.ts).
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { InvalidAddressError, loadOrCreateKey, parseAddress, parsePeerId, peerIdFromKey } from '@pnet/network'
import { pino } from 'pino'
import { startAgent } from '../agent/agent.js'
import { type AgentSettings, agentFlags, ConfigError, resolveAgentSettings } from '../agent/config.js'
import { TagError } from '../agent/tags.js'
import { execute, inventory } from '../controller/exec.js'
import { joinFleet } from '../controller/fleet.js'
import { processSink, type Sink } from '../controller/output.js'
import { jobCommand, jobsCommand } from './jobs.js'
import { common, need, RUN_OPTIONS, runAndReport, runCommands, runFlags, UsageError } from './run.js'

export { parseDuration, UsageError } from './run.js'

import { DEPLOY_USAGE, deployCommand } from '../deploy/command.js'
import { DeployInputError } from '../deploy/hosts.js'
import { installServiceCommand, SERVICE_USAGE, ServiceUsageError, uninstallServiceCommand } from './service.js'
import { guardStdio } from './signals.js'
import { LIFECYCLE_OPTIONS, UPGRADE_USAGE, uninstallCommand, upgradeCommand, upgradeWatchCommand } from './upgrade.js'

const USAGE = `usage: ops-agent <command> [options]

commands:
  keygen --key FILE                              create a key (mode 0600) and print its peer ID
  agent --data-dir DIR --listen ADDR --trust ID  run an agent; --join ADDR …, --tag key=value …, --log-level LEVEL
  exec --key FILE --via ADDR --target SEL -- CMD [ARGS …]
                                                 run CMD on every matching agent; --timeout 30s, --concurrency N,
                                                 --batch N|P%, --max-failures N, --cwd DIR, --env K=V, --run-as USER, --json
  nodes --key FILE --via ADDR [--json]           list reachable agents: peer, host, version, tags, hops, RTT
  script FILE --key FILE --via ADDR --target SEL [--interpreter sh|bash|python3|node|PATH] [-- ARGS …]
                                                 push a script and run it with ARGS (same flags and output as exec)
  push LOCAL REMOTE --key FILE --via ADDR --target SEL [--mode 0644] [--owner USER]
                                                 stream a file down the route tree, sha256-checked, renamed atomically
                                                 ({host} in REMOTE becomes each agent's host name)
  status --key FILE --via ADDR --target SEL [--json]
                                                 host facts: os, kernel, uptime, load, cpu, memory, disks, interfaces
  job ID [--wait] [--json] [--key FILE --via ADDR]
                                                 a job's results from the history; collects what hosts kept
  jobs [--limit N] [--json]                      the job history (--db FILE; default ~/.config/ops-agent/jobs.db)
  exec, script and status also take --async (return the job ID at once), --batch, --max-failures, --db
  ${DEPLOY_USAGE}
  ${SERVICE_USAGE}
  ${UPGRADE_USAGE}

selectors (--target): *  id=PEER_ID  host=GLOB  TAG=GLOB; terms joined by , must all match; repeated --target
flags are alternatives. Addresses: multiaddrs or URLs (tcp://10.0.0.1:4001, ws://…, quic://…).`

function parse(args: string[], options: ParseArgsOptionsConfig, positionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

function address(flag: string, v: string): string {
  try {
    parseAddress(v)
    return v
  } catch (err) {
    if (err instanceof InvalidAddressError) throw new UsageError(`--${flag}: ${err.message}`)
    throw err
  }
}

export async function main(argv: string[], sink: Sink = processSink): Promise<number> {
  const [command, ...rest] = argv
  const out = (l: string) => sink.stdout(`${l}\n`)
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE)
      return command === undefined ? 2 : 0
    case 'keygen': {
      const { values } = parse(rest, { key: { type: 'string' } }, false)
      out(peerIdFromKey(await loadOrCreateKey(resolve(need(values, 'key', 'keygen')))).toString())
      return 0
    }
    case 'agent':
      return agentCommand(rest)
    case 'exec':
      return execCommand(rest, sink)
    case 'nodes':
      return nodesCommand(rest, out)
    case 'script':
    case 'push':
    case 'status':
      return runCommand(command, rest, sink)
    case 'job':
      return jobCommand(rest, sink, (flag, text) => address(flag, text))
    case 'jobs':
      return jobsCommand(rest, sink)
    case 'deploy':
      return deployCommand(rest, out).catch(err => {
        throw err instanceof DeployInputError || err instanceof TagError ? new UsageError(err.message) : err
      })
    case 'upgrade':
    case 'uninstall': {
      const { values } = parse(rest, { ...RUN_OPTIONS, ...LIFECYCLE_OPTIONS[command] }, false)
      return (command === 'upgrade' ? upgradeCommand : uninstallCommand)(
        values,
        runFlags(values, command, address),
        sink,
      )
    }
    case 'upgrade-watch':
      return upgradeWatchCommand(rest, out)
    case 'install-service':
    case 'uninstall-service':
      return (command === 'install-service' ? installServiceCommand : uninstallServiceCommand)(rest, out).catch(err => {
        throw err instanceof ServiceUsageError ? new UsageError(err.message) : err
      })
    default:
      throw new UsageError(`unknown command "${command}" (try ops-agent --help)`)
  }
}

async function agentCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      listen: { type: 'string', multiple: true },
      join: { type: 'string', multiple: true },
      tag: { type: 'string', multiple: true },
      trust: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'link-timeout-ms': { type: 'string' },
    },
    false,
  )
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

async function execCommand(args: string[], sink: Sink): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...RUN_OPTIONS,
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      'run-as': { type: 'string' },
    },
    true,
  )
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
async function runCommand(name: keyof typeof runCommands, args: string[], sink: Sink): Promise<number> {
  const own: ParseArgsOptionsConfig =
    name === 'script'
      ? { interpreter: { type: 'string' } }
      : name === 'push'
        ? { mode: { type: 'string' }, owner: { type: 'string' } }
        : {}
  const { values, positionals } = parse(args, { ...RUN_OPTIONS, ...own }, name !== 'status')
  return runCommands[name](values, positionals, runFlags(values, name, address), sink)
}

async function nodesCommand(args: string[], out: (l: string) => void): Promise<number> {
  const { values } = parse(args, { key: { type: 'string' }, via: { type: 'string' }, json: { type: 'boolean' } }, false)
  const key = await loadOrCreateKey(resolve(need(values, 'key', 'nodes')))
  const fleet = await joinFleet({ key, via: address('via', need(values, 'via', 'nodes')) })
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
