#!/usr/bin/env node
/**
 * `pnet`: run a node and inspect it.
 *
 *   pnet id --key FILE
 *   pnet daemon --key FILE --listen ADDR [--listen …] [--join ADDR …] [--control PATH]
 *   pnet peers | routes | info | metrics            [--control PATH | --key FILE] [--json]
 *   pnet ping PEER_ID [--count N]                   [--control PATH | --key FILE] [--json]
 *   pnet connect ADDR | disconnect PEER_ID          [--control PATH | --key FILE] [--json]
 *   pnet completion bash
 *   pnet help [COMMAND] | pnet COMMAND --help | pnet --version
 *
 * Exit codes: 0 success, 1 the operation failed (unreachable, refused, no daemon), 2 usage error.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidAddressError, loadOrCreateKey, parseAddress, parsePeerId, peerIdFromKey } from '@pnet/network'
import { Argument, type Command, Option } from 'commander'
import { controlRequest } from '../control/client.js'
import type { InfoResult, PeerRow, RouteRow } from '../control/protocol.js'
import type { NodeMetrics } from '../metrics.js'
import type { PingReply } from '../node.js'
import { bashCompletion } from './completion.js'
import { runDaemon } from './daemon.js'
import { ago, short, table } from './format.js'
import { CommandLineError, createProgram, example, parseCommandLine } from './program.js'

export class UsageError extends Error {
  override readonly name: string = 'UsageError'
  readonly code: string = 'ERR_USAGE'
}

/** A `--key` that names no file, given to a command that only reads it (a typo must not pass unnoticed). */
export class MissingKeyError extends UsageError {
  override readonly name = 'MissingKeyError'
  override readonly code = 'ERR_NO_KEY_FILE'
}

type Out = (line: string) => void

/** The version in this package's package.json (dist/cli/main.js and src/cli/main.ts are both two levels down). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

const many = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v]

/** The flags every inspection command takes. */
function inspectOptions(cmd: Command): Command {
  return cmd
    .option('--control <path>', "the daemon's control socket (default: pnet.sock beside --key FILE, or $PNET_CONTROL)")
    .option('--key <file>', "the daemon's key file; its control socket is pnet.sock beside it")
    .option('--json', 'print JSON for scripts')
}

/**
 * The command tree: every command, its flags, its help page. `main` runs it; tests and `pnet completion` walk it.
 * Actions store their exit code through `done`.
 */
export function program(
  out: Out,
  err: Out = l => process.stderr.write(`${l}\n`),
  done: (code: number) => void = () => {},
): Command {
  const root = createProgram('pnet', packageVersion(), 'Run a pnet node and inspect it.', {
    stdout: text => out(text.replace(/\n$/, '')),
    stderr: text => err(text.replace(/\n$/, '')),
  })
  root.addHelpText(
    'after',
    `
Inspection commands take --control PATH (default: pnet.sock beside --key FILE, or $PNET_CONTROL) and --json.
Addresses: multiaddrs (/ip4/127.0.0.1/tcp/4001) or URLs (tcp://127.0.0.1:4001, ws://…, quic://…, memory://…).
Exit codes: 0 success, 1 the operation failed (unreachable, refused, no daemon), 2 usage error.

Example:
  pnet daemon --key node.key --listen tcp://0.0.0.0:4001 --join tcp://10.0.0.2:4001`,
  )
  example(
    root
      .command('id')
      .description('print the peer ID (creates the key, mode 0600, if absent)')
      .option('--key <file>', 'the key file (created if absent)')
      .option('--json', 'print {"id": …}'),
    'pnet id --key node.key',
  ).action(async (values: Record<string, unknown>) => done(await idCommand(values, out)))
  example(
    root
      .command('daemon')
      .description(
        'run a node until SIGINT/SIGTERM; bound addresses on stdout, logs on stderr (creates the key if absent)',
      )
      .option('--key <file>', "the node's key file (created if absent)")
      .option('--listen <addr>', 'an address to listen on (repeatable)', many)
      .option('--join <addr>', 'an address of any node to join through (repeatable)', many)
      .option('--control <path>', 'the control socket (default: pnet.sock beside --key FILE)')
      .addOption(
        new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']),
      )
      .addOption(new Option('--metric <metric>', 'route metric').choices(['hops', 'rtt']))
      .option('--keepalive-ms <n>', 'keepalive interval in ms')
      .option('--link-timeout-ms <n>', 'drop a link silent this long, in ms'),
    'pnet daemon --key node.key --listen tcp://0.0.0.0:4001 --join tcp://10.0.0.2:4001',
  ).action(async (values: Record<string, unknown>) => done(await runDaemon(daemonOptions(values))))
  const inspections: [string, string, string, string?][] = [
    ['peers', 'neighbours: peer, address, transport, RTT', 'pnet peers --key node.key'],
    ['routes', 'routes: peer, next hop, hops, metric', 'pnet routes --key node.key --json'],
    ['info', 'id, addresses, counts', 'pnet info --control /run/pnet.sock'],
    ['metrics', 'connections, streams and bytes per transport and channel', 'pnet metrics --key node.key'],
    [
      'ping',
      'libp2p ping to any reachable peer, multi-hop included',
      'pnet ping 12D3KooW… --count 3 --key node.key',
      '<peer-id>',
    ],
    ['connect', 'dial ADDR and keep the link', 'pnet connect tcp://10.0.0.3:4001 --key node.key', '<addr>'],
    ['disconnect', 'drop the links to PEER_ID', 'pnet disconnect 12D3KooW… --key node.key', '<peer-id>'],
  ]
  for (const [name, description, ex, arg] of inspections) {
    const cmd = inspectOptions(root.command(name).description(description))
    if (arg !== undefined) cmd.argument(arg)
    if (name === 'ping') cmd.option('--count <n>', 'how many pings (default 1)')
    example(cmd, ex).action(async (...args: unknown[]) => {
      const positionals = arg === undefined ? [] : [args[0] as string]
      const values = args[arg === undefined ? 0 : 1] as Record<string, unknown>
      done(await inspect(name, values, positionals, out))
    })
  }
  example(
    root
      .command('completion')
      .description('print a shell completion script')
      .addArgument(new Argument('<shell>', 'the shell').choices(['bash'])),
    'source <(pnet completion bash)',
  ).action(() => {
    out(bashCompletion(root).trimEnd())
    done(0)
  })
  return root
}

export async function main(
  argv: string[],
  out: Out = l => process.stdout.write(`${l}\n`),
  err: Out = l => process.stderr.write(`${l}\n`),
): Promise<number> {
  let code = 0
  const root = program(out, err, c => {
    code = c
  })
  try {
    return (await parseCommandLine(root, argv)) ?? code
  } catch (e) {
    if (e instanceof CommandLineError) throw new UsageError(e.message)
    throw e
  }
}

async function idCommand(values: Record<string, unknown>, out: Out): Promise<number> {
  if (typeof values.key !== 'string') throw new UsageError('pnet id needs --key FILE')
  // the one command besides daemon that creates a key: asking a new node's ID is how a key is made
  const id = peerIdFromKey(await loadOrCreateKey(values.key)).toString()
  out(values.json === true ? JSON.stringify({ id }) : id)
  return 0
}

function positiveInt(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${flag} must be a positive integer, got "${String(value)}"`)
  return n
}

function checkAddr(flag: string, value: string): string {
  try {
    parseAddress(value)
  } catch (err) {
    if (err instanceof InvalidAddressError) throw new UsageError(`--${flag}: ${err.message}`)
    throw err
  }
  return value
}

function daemonOptions(values: Record<string, unknown>) {
  if (typeof values.key !== 'string') throw new UsageError('pnet daemon needs --key FILE')
  const listen = ((values.listen as string[] | undefined) ?? []).map(a => checkAddr('listen', a))
  if (listen.length === 0) throw new UsageError('pnet daemon needs at least one --listen ADDR')
  const join = ((values.join as string[] | undefined) ?? []).map(a => checkAddr('join', a))
  const metric = values.metric
  if (metric !== undefined && metric !== 'hops' && metric !== 'rtt') {
    throw new UsageError(`--metric must be hops or rtt, got "${String(metric)}"`)
  }
  const level = (values.logLevel as string | undefined) ?? 'info'
  const keyFile = resolve(values.key)
  return {
    keyFile,
    listen,
    join,
    control: resolve((values.control as string | undefined) ?? join_(dirname(keyFile), 'pnet.sock')),
    logLevel: level,
    metric: metric as 'hops' | 'rtt' | undefined,
    keepaliveMs: positiveInt('keepalive-ms', values.keepaliveMs),
    linkTimeoutMs: positiveInt('link-timeout-ms', values.linkTimeoutMs),
  }
}

const join_ = join

function controlPath(values: Record<string, unknown>): string {
  if (typeof values.control === 'string') return resolve(values.control)
  if (typeof values.key === 'string') {
    // the key only locates the socket, and is never created here: a key file that is not there is a typo, or a
    // daemon that never ran with it
    const keyFile = resolve(values.key)
    let isFile = false
    try {
      isFile = statSync(keyFile).isFile()
    } catch {}
    if (!isFile) {
      throw new MissingKeyError(`no key file at ${values.key} (pnet daemon --key ${values.key} creates it)`)
    }
    return join(dirname(keyFile), 'pnet.sock')
  }
  const env = process.env.PNET_CONTROL
  if (env !== undefined && env !== '') return resolve(env)
  throw new UsageError('no control socket: pass --control PATH (or --key FILE, or set PNET_CONTROL)')
}

async function inspect(
  command: string,
  values: Record<string, unknown>,
  positionals: string[],
  out: Out,
): Promise<number> {
  const json = values.json === true
  const path = controlPath(values)
  const print = (data: unknown): void => out(JSON.stringify(data, null, 2))
  switch (command) {
    case 'info': {
      const info = (await controlRequest(path, 'info')) as InfoResult
      if (json) {
        print(info)
        return 0
      }
      out(`id          ${info.id}`)
      for (const a of info.addrs) out(`listening   ${a}`)
      out(`neighbours  ${info.peers}`)
      out(`routes      ${info.routes} (${info.reachable} reachable)`)
      out(`connections ${info.connections}`)
      out(`uptime      ${ago(info.uptimeMs)}`)
      return 0
    }
    case 'peers': {
      const rows = (await controlRequest(path, 'peers')) as PeerRow[]
      if (json) {
        print(rows.map(r => ({ peer: r.peer, addr: r.addr, transport: r.transport, rttMs: r.rttMs })))
        return 0
      }
      out(
        table(
          ['PEER', 'ADDRESS', 'TRANSPORT', 'RTT', 'SINCE'],
          rows.map(r => [
            r.peer,
            r.addr,
            r.transport,
            r.rttMs === null ? '-' : `${r.rttMs.toFixed(2)} ms`,
            ago(Date.now() - r.since),
          ]),
        ),
      )
      return 0
    }
    case 'routes': {
      const rows = (await controlRequest(path, 'routes')) as RouteRow[]
      if (json) {
        print(rows.map(r => ({ peer: r.peer, nextHop: r.nextHop, hops: r.hops, metric: r.metric })))
        return 0
      }
      out(
        table(
          ['PEER', 'NEXT HOP', 'HOPS', 'METRIC', 'AGE'],
          rows.map(r => [
            r.peer,
            r.hops === 1 ? '(direct)' : short(r.nextHop),
            String(r.hops),
            String(r.metric),
            ago(r.ageMs),
          ]),
        ),
      )
      return 0
    }
    case 'metrics': {
      const m = (await controlRequest(path, 'metrics')) as NodeMetrics
      if (json) {
        print(m)
        return 0
      }
      out(
        table(
          ['TRANSPORT', 'OPEN', 'OPENED', 'BYTES IN', 'BYTES OUT'],
          Object.entries(m.connections.byTransport).map(([k, v]) => [
            k,
            `${v.open}`,
            `${v.opened}`,
            `${v.bytesIn}`,
            `${v.bytesOut}`,
          ]),
        ),
      )
      out('')
      out(
        table(
          ['CHANNEL', 'OPEN', 'OPENED', 'BYTES IN', 'BYTES OUT'],
          Object.entries(m.streams.byChannel).map(([k, v]) => [
            k,
            `${v.open}`,
            `${v.opened}`,
            `${v.bytesIn}`,
            `${v.bytesOut}`,
          ]),
        ),
      )
      return 0
    }
    case 'ping': {
      const peer = peerArg(positionals[0])
      const count = positiveInt('count', values.count) ?? 1
      const replies: PingReply[] = []
      const result = (await controlRequest(path, 'ping', { peer, count }, (_e, data) => {
        const r = data as PingReply
        replies.push(r)
        if (!json) out(`reply from ${short(peer)}: seq=${r.seq} time=${r.rttMs.toFixed(3)} ms hops=${r.hops}`)
      })) as { replies: PingReply[] }
      if (json) {
        print({ peer, replies: result.replies })
        return 0
      }
      const rtts = result.replies.map(r => r.rttMs)
      out(
        `${rtts.length} replies, min/avg/max ${Math.min(...rtts).toFixed(3)}/${(rtts.reduce((a, b) => a + b, 0) / rtts.length).toFixed(3)}/${Math.max(...rtts).toFixed(3)} ms`,
      )
      return 0
    }
    case 'connect': {
      const addr = positionals[0]
      if (addr === undefined) throw new UsageError('pnet connect needs ADDR')
      checkAddr('connect', addr)
      const { peer } = (await controlRequest(path, 'connect', { addr })) as { peer: string }
      out(json ? JSON.stringify({ peer }) : peer)
      return 0
    }
    case 'disconnect': {
      const peer = peerArg(positionals[0])
      const result = (await controlRequest(path, 'disconnect', { peer })) as { peer: string; closed: number }
      out(json ? JSON.stringify(result) : `disconnected ${peer} (${result.closed} connections closed)`)
      return 0
    }
  }
  return 2
}

function peerArg(value: string | undefined): string {
  if (value === undefined) throw new UsageError('missing PEER_ID')
  try {
    return parsePeerId(value).toString()
  } catch (err) {
    throw new UsageError((err as Error).message)
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
      if (err instanceof UsageError) {
        process.stderr.write(`pnet: ${err.message}\n`)
        process.exitCode = 2
      } else {
        process.stderr.write(`pnet: ${err.message}\n`)
        process.exitCode = 1
      }
    },
  )
}
