#!/usr/bin/env node
/**
 * `pnet`: run a node and inspect it.
 *
 *   pnet id --key FILE
 *   pnet daemon --key FILE --listen ADDR [--listen …] [--join ADDR …] [--control PATH]
 *   pnet peers | routes | info | metrics            [--control PATH] [--json]
 *   pnet ping PEER_ID [--count N]                   [--control PATH] [--json]
 *   pnet connect ADDR | disconnect PEER_ID          [--control PATH] [--json]
 *
 * Exit codes: 0 success, 1 the operation failed (unreachable, refused, no daemon), 2 usage error.
 */
import { realpathSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { InvalidAddressError, loadOrCreateKey, parseAddress, parsePeerId, peerIdFromKey } from '@pnet/network'
import { controlRequest } from '../control/client.js'
import type { InfoResult, PeerRow, RouteRow } from '../control/protocol.js'
import type { NodeMetrics } from '../metrics.js'
import type { PingReply } from '../node.js'
import { runDaemon } from './daemon.js'
import { ago, short, table } from './format.js'

export class UsageError extends Error {}

const USAGE = `usage: pnet <command> [options]

commands:
  id --key FILE                          print the peer ID (creates the key, mode 0600, if absent)
  daemon --key FILE --listen ADDR …      run a node; --join ADDR …, --control PATH, --log-level LEVEL,
                                         --metric hops|rtt, --keepalive-ms N, --link-timeout-ms N
  peers                                  neighbours: peer, address, transport, RTT
  routes                                 routes: peer, next hop, hops, metric
  ping PEER_ID [--count N]               libp2p ping to any reachable peer, multi-hop included
  connect ADDR                           dial ADDR and keep the link
  disconnect PEER_ID                     drop the links to PEER_ID
  info                                   id, addresses, counts
  metrics                                connections, streams and bytes per transport and channel

inspection commands take --control PATH (default: PNET_CONTROL, or pnet.sock beside --key FILE) and --json.
addresses: multiaddrs (/ip4/127.0.0.1/tcp/4001) or URLs (tcp://127.0.0.1:4001, ws://…, quic://…, memory://…).`

type Out = (line: string) => void

export async function main(argv: string[], out: Out = l => process.stdout.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE)
    return command === undefined ? 2 : 0
  }
  switch (command) {
    case 'id':
      return idCommand(rest, out)
    case 'daemon':
      return runDaemon(daemonOptions(rest))
    case 'peers':
    case 'routes':
    case 'info':
    case 'metrics':
    case 'ping':
    case 'connect':
    case 'disconnect':
      return inspect(command, rest, out)
    default:
      throw new UsageError(`unknown command "${command}" (try pnet --help)`)
  }
}

function parse(args: string[], options: ParseArgsOptionsConfig, positionals = 0) {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`)
  }
  return parsed
}

async function idCommand(args: string[], out: Out): Promise<number> {
  const { values } = parse(args, { key: { type: 'string' }, json: { type: 'boolean' } })
  if (typeof values.key !== 'string') throw new UsageError('pnet id needs --key FILE')
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

function daemonOptions(args: string[]) {
  const { values } = parse(args, {
    key: { type: 'string' },
    listen: { type: 'string', multiple: true },
    join: { type: 'string', multiple: true },
    control: { type: 'string' },
    'log-level': { type: 'string' },
    metric: { type: 'string' },
    'keepalive-ms': { type: 'string' },
    'link-timeout-ms': { type: 'string' },
  })
  if (typeof values.key !== 'string') throw new UsageError('pnet daemon needs --key FILE')
  const listen = ((values.listen as string[] | undefined) ?? []).map(a => checkAddr('listen', a))
  if (listen.length === 0) throw new UsageError('pnet daemon needs at least one --listen ADDR')
  const join = ((values.join as string[] | undefined) ?? []).map(a => checkAddr('join', a))
  const metric = values.metric
  if (metric !== undefined && metric !== 'hops' && metric !== 'rtt') {
    throw new UsageError(`--metric must be hops or rtt, got "${String(metric)}"`)
  }
  const level = (values['log-level'] as string | undefined) ?? 'info'
  if (!['trace', 'debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    throw new UsageError(`--log-level must be trace, debug, info, warn, error or silent, got "${level}"`)
  }
  const keyFile = resolve(values.key)
  return {
    keyFile,
    listen,
    join,
    control: resolve((values.control as string | undefined) ?? join_(dirname(keyFile), 'pnet.sock')),
    logLevel: level,
    metric: metric as 'hops' | 'rtt' | undefined,
    keepaliveMs: positiveInt('keepalive-ms', values['keepalive-ms']),
    linkTimeoutMs: positiveInt('link-timeout-ms', values['link-timeout-ms']),
  }
}

const join_ = join

function controlPath(values: Record<string, unknown>): string {
  if (typeof values.control === 'string') return resolve(values.control)
  if (typeof values.key === 'string') return join(dirname(resolve(values.key)), 'pnet.sock')
  const env = process.env.PNET_CONTROL
  if (env !== undefined && env !== '') return resolve(env)
  throw new UsageError('no control socket: pass --control PATH (or --key FILE, or set PNET_CONTROL)')
}

async function inspect(command: string, args: string[], out: Out): Promise<number> {
  const takesArg = command === 'ping' || command === 'connect' || command === 'disconnect'
  const { values, positionals } = parse(
    args,
    {
      control: { type: 'string' },
      key: { type: 'string' },
      json: { type: 'boolean' },
      ...(command === 'ping' ? { count: { type: 'string' } } : {}),
    },
    takesArg ? 1 : 0,
  )
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
