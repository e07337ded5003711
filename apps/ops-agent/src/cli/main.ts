#!/usr/bin/env node
/**
 * `ops-agent`: agents on fleet hosts, and the controller commands that drive them through the overlay.
 *
 *   ops-agent keygen --key FILE
 *   ops-agent agent --data-dir DIR --listen ADDR [--join ADDR …] [--tag k=v …] --trust PEER_ID [--trust …]
 *   ops-agent exec --key FILE --via ADDR --target SEL [--target …] [--timeout 30s] [--concurrency N]
 *                  [--batch N|P%] [--max-failures N] [--json] -- CMD [ARGS …]
 *   ops-agent nodes --key FILE --via ADDR [--json]
 *   ops-agent deploy (--ssh USER@HOST … | --inventory FILE) --join ADDR --trust PEER_ID [--tag k=v …] [--artifact FILE]
 *
 * Exit codes: 0 every targeted host ran the command and exited 0; 1 anything else; 2 usage error.
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { InvalidAddressError, loadOrCreateKey, parseAddress, parsePeerId, peerIdFromKey } from '@pnet/network'
import { pino } from 'pino'
import { startAgent } from '../agent/agent.js'
import { parseTag, TagError } from '../agent/tags.js'
import { execute, inventory } from '../controller/exec.js'
import { joinFleet } from '../controller/fleet.js'
import { groupedOutput, hostJson, LivePrinter, processSink, type Sink, summaryLine } from '../controller/output.js'
import { parseSelectors, SelectorError } from '../controller/selector.js'
import { DEPLOY_USAGE, deployCommand } from '../deploy/command.js'
import { DeployInputError } from '../deploy/hosts.js'

export class UsageError extends Error {}

const USAGE = `usage: ops-agent <command> [options]

commands:
  keygen --key FILE                              create a key (mode 0600) and print its peer ID
  agent --data-dir DIR --listen ADDR --trust ID  run an agent; --join ADDR …, --tag key=value …, --log-level LEVEL
  exec --key FILE --via ADDR --target SEL -- CMD [ARGS …]
                                                 run CMD on every matching agent; --timeout 30s, --concurrency N,
                                                 --batch N|P%, --max-failures N, --cwd DIR, --env K=V, --run-as USER, --json
  nodes --key FILE --via ADDR [--json]           list reachable agents: peer, host, tags, hops, RTT
  ${DEPLOY_USAGE}

selectors (--target): *  id=PEER_ID  host=GLOB  TAG=GLOB; terms joined by , must all match; repeated --target
flags are alternatives. Addresses: multiaddrs or URLs (tcp://10.0.0.1:4001, ws://…, quic://…).`

/**
 * Parses a duration: `250ms`, `30s`, `5m`, `1h`, or plain milliseconds.
 *
 * @example
 * ```ts
 * parseDuration('--timeout', '1m30s')   // 90000
 * ```
 */
export function parseDuration(flag: string, text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)?/y
  let total = 0
  let at = 0
  while (at < text.length) {
    re.lastIndex = at
    const m = re.exec(text)
    if (m === null) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 500ms, 30s, 5m, 1h)`)
    const n = Number(m[1])
    total += n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1)
    at = re.lastIndex
  }
  if (text === '' || total <= 0) throw new UsageError(`${flag} "${text}" must be a positive duration`)
  return Math.round(total)
}

function parse(args: string[], options: ParseArgsOptionsConfig, positionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

function need(values: Record<string, unknown>, flag: string, command: string): string {
  const v = values[flag]
  if (typeof v !== 'string' || v === '') throw new UsageError(`ops-agent ${command} needs --${flag}`)
  return v
}

function positiveInt(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer, got "${String(v)}"`)
  return n
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
    case 'deploy':
      return deployCommand(rest, out).catch(err => {
        throw err instanceof DeployInputError || err instanceof TagError ? new UsageError(err.message) : err
      })
    default:
      throw new UsageError(`unknown command "${command}" (try ops-agent --help)`)
  }
}

async function agentCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
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
  const dataDir = resolve(need(values, 'data-dir', 'agent'))
  const listen = ((values.listen as string[] | undefined) ?? []).map(a => address('listen', a))
  if (listen.length === 0) throw new UsageError('ops-agent agent needs at least one --listen ADDR')
  const join = ((values.join as string[] | undefined) ?? []).map(a => address('join', a))
  const trust = (values.trust as string[] | undefined) ?? []
  if (trust.length === 0) throw new UsageError('ops-agent agent needs --trust PEER_ID (the controllers it obeys)')
  for (const t of trust) {
    try {
      parsePeerId(t)
    } catch (err) {
      throw new UsageError(`--trust: ${(err as Error).message}`)
    }
  }
  let tags: Record<string, string>
  try {
    tags = Object.fromEntries(((values.tag as string[] | undefined) ?? []).map(parseTag))
  } catch (err) {
    if (err instanceof TagError) throw new UsageError(err.message)
    throw err
  }
  const level = (values['log-level'] as string | undefined) ?? 'info'
  const logger = pino({ level, base: { pid: process.pid } }, pino.destination(2))
  const keepaliveMs = positiveInt('keepalive-ms', values['keepalive-ms'])
  const linkTimeoutMs = positiveInt('link-timeout-ms', values['link-timeout-ms'])
  const agent = await startAgent({
    dataDir,
    listen,
    join,
    tags,
    trust,
    logger,
    keepalive: {
      ...(keepaliveMs !== undefined ? { intervalMs: keepaliveMs } : {}),
      ...(linkTimeoutMs !== undefined ? { timeoutMs: linkTimeoutMs } : {}),
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
      key: { type: 'string' },
      via: { type: 'string' },
      target: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      concurrency: { type: 'string' },
      batch: { type: 'string' },
      'max-failures': { type: 'string' },
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      'run-as': { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  )
  const keyFile = resolve(need(values, 'key', 'exec'))
  const via = address('via', need(values, 'via', 'exec'))
  let selectors: ReturnType<typeof parseSelectors>
  try {
    selectors = parseSelectors((values.target as string[] | undefined) ?? [])
  } catch (err) {
    if (err instanceof SelectorError) throw new UsageError(err.message)
    throw err
  }
  if (positionals.length === 0) throw new UsageError('ops-agent exec needs a command after --')
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout as string)
  const concurrency = positiveInt('concurrency', values.concurrency)
  const maxFailures = positiveInt('max-failures', values['max-failures'])
  let batch: { count?: number; percent?: number } | undefined
  if (typeof values.batch === 'string') {
    const m = /^(\d+)(%?)$/.exec(values.batch)
    const n = Number(m?.[1])
    if (m === null || n <= 0 || (m[2] === '%' && n > 100)) {
      throw new UsageError(`--batch must be N or P% (1-100), got "${values.batch}"`)
    }
    batch = m[2] === '%' ? { percent: n } : { count: n }
  }
  const env: Record<string, string> = {}
  for (const e of (values.env as string[] | undefined) ?? []) {
    const eq = e.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env "${e}" is not NAME=value`)
    env[e.slice(0, eq)] = e.slice(eq + 1)
  }
  const json = values.json === true
  const key = await loadOrCreateKey(keyFile)
  const fleet = await joinFleet({ key, via })
  const printer = new LivePrinter(sink)
  const cancel = new AbortController()
  const onSigint = (): void => {
    sink.stderr('\ncancelling on every host…\n')
    cancel.abort()
  }
  process.once('SIGINT', onSigint)
  const started = performance.now()
  try {
    const run = await execute({
      key,
      fleet,
      selectors,
      command: {
        argv: positionals,
        cwd: values.cwd as string | undefined,
        env: Object.keys(env).length > 0 ? env : undefined,
        runAs: values['run-as'] as string | undefined,
        timeoutMs,
      },
      concurrency,
      batch,
      maxFailures,
      signal: cancel.signal,
      events: json
        ? { done: r => sink.stdout(`${JSON.stringify(hostJson(r))}\n`) }
        : {
            targets: n => printer.targets(n),
            output: (host, stream, text) => printer.output(host, stream, text),
            done: r => printer.done(r),
          },
    })
    const elapsed = performance.now() - started
    if (json) sink.stdout(`${JSON.stringify({ summary: run.summary, job: run.jobId })}\n`)
    else {
      printer.finish()
      const grouped = groupedOutput(run.results)
      if (grouped !== '') sink.stdout(grouped)
      sink.stdout(summaryLine(run.summary, run.results, elapsed))
      if (run.unknown.length > 0) {
        sink.stderr(
          `warning: ${run.unknown.length} routed agents did not answer the inventory; they may match: ${run.unknown.join(', ')}\n`,
        )
      }
      if (run.notRun.length > 0 && !cancel.signal.aborted) {
        sink.stderr(`stopped after too many failures; never ran: ${run.notRun.length} hosts\n`)
      }
    }
    const s = run.summary
    return s.targeted > 0 && s.ok === s.targeted ? 0 : 1
  } finally {
    process.off('SIGINT', onSigint)
    await fleet.close()
  }
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
      String(r.hops ?? '-'),
      r.rttMs === null ? '-' : `${r.rttMs} ms`,
      r.tags === null
        ? ''
        : Object.entries(r.tags)
            .filter(([k]) => k !== 'hostname')
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
    ])
    const head = ['PEER', 'HOST', 'HOPS', 'RTT', 'TAGS']
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
