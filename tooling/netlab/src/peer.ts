#!/usr/bin/env node
/**
 * `netlab-peer`: a pnet node for lab hosts that, besides routing like `pnet daemon`, serves the lab's test channels
 * and takes commands on stdin (one JSON object per line, answered by one JSON line on stdout with the same `id`):
 *
 *   {"id":1,"op":"transfer","peer":"12D3…","bytes":1048576,"seed":7}   checksummed transfer to the sink channel
 *   {"id":2,"op":"ping","peer":"12D3…","timeoutMs":2000}              libp2p ping (multi-hop), RTT in ms
 *   {"id":3,"op":"route","peer":"12D3…"}                               next hop and hops, or null
 *   {"id":4,"op":"connect","addr":"/ip4/…/p2p/12D3…"}                 dial, to see which error a bad address gets
 *   {"id":5,"op":"open","peer":"12D3…","channel":"netlab-secure","token":"base64url"}  open with a capability
 *   {"id":6,"op":"broadcast","channel":"/pnet/ops/job/1","payload":"base64","targets":["12D3…"]}
 *                                                                      raw broadcast (replays, crafted jobs)
 *   {"id":7,"op":"stats"}                                              memory, routes, neighbours
 *
 * Flags: --key FILE --listen ADDR … [--join ADDR …] [--keepalive-ms N] [--link-timeout-ms N]
 *        [--cap-issuer PEER_ID] (netlab-secure needs a capability from it) [--evil-relay] (flip a bit in relayed data)
 */
import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { allowAll, capabilityAuth, capabilityCredential, openChannel } from '@pnet/channel'
import { parsePeerId } from '@pnet/network'
import { createNode, type Node } from '@pnet/node'
import { decodeRelayOpen, encodeRelayOpen, RELAY_CHANNEL } from '@pnet/router'
import { lengthPrefixed, readFrame } from '@pnet/router/internal'
import { payloadChunks, payloadSha256 } from './payload.js'

/** The sink channel: reads everything, answers `BYTES SHA256HEX\n`. */
export const SINK_CHANNEL = 'netlab-sink'
/** Echo, for round trips. */
export const ECHO_CHANNEL = 'netlab-echo'
/** A channel that needs a capability token (--cap-issuer). */
export const SECURE_CHANNEL = 'netlab-secure'

const { values } = parseArgs({
  options: {
    key: { type: 'string' },
    listen: { type: 'string', multiple: true },
    join: { type: 'string', multiple: true },
    'keepalive-ms': { type: 'string' },
    'link-timeout-ms': { type: 'string' },
    'cap-issuer': { type: 'string' },
    'evil-relay': { type: 'boolean' },
  },
})
if (values.key === undefined) throw new Error('netlab-peer needs --key FILE')

const node = await createNode({
  keyFile: values.key,
  listen: values.listen ?? [],
  join: values.join ?? [],
  keepalive: {
    ...(values['keepalive-ms'] !== undefined ? { intervalMs: Number(values['keepalive-ms']) } : {}),
    ...(values['link-timeout-ms'] !== undefined ? { timeoutMs: Number(values['link-timeout-ms']) } : {}),
  },
})
node.handle(SINK_CHANNEL, async stream => {
  const h = createHash('sha256')
  let n = 0
  for await (const chunk of stream.source) {
    h.update(chunk)
    n += chunk.byteLength
  }
  await stream.sink([new TextEncoder().encode(`${n} ${h.digest('hex')}\n`)])
})
node.handle(ECHO_CHANNEL, async stream => {
  await stream.sink(stream.source)
})
node.handle(
  SECURE_CHANNEL,
  async stream => {
    await stream.sink([new TextEncoder().encode('granted\n')])
  },
  { auth: values['cap-issuer'] !== undefined ? capabilityAuth({ issuers: [values['cap-issuer']] }) : allowAll() },
)
if (values['evil-relay'] === true) evilRelay(node)
await node.start()
for (const addr of node.addrs) process.stdout.write(`listening ${addr.toString()}\n`)
process.stdout.write(`ready ${node.id.toString()}\n`)

interface Command {
  id: number
  op: string
  peer?: string
  bytes?: number
  seed?: number
  timeoutMs?: number
  addr?: string
  channel?: string
  token?: string
  payload?: string
  targets?: string[]
}

createInterface({ input: process.stdin }).on('line', line => {
  let cmd: Command
  try {
    cmd = JSON.parse(line) as Command
  } catch {
    return
  }
  void run(cmd).then(
    out => reply({ id: cmd.id, ok: true, ...out }),
    (err: Error) => reply({ id: cmd.id, ok: false, error: `${err.name}: ${err.message}`, code: errCode(err) }),
  )
})
process.stdin.on('end', () => void stop())
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())

async function stop(): Promise<void> {
  await node.stop({ drainMs: 500 }).catch(() => {})
  process.exit(0)
}

function reply(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

async function run(cmd: Command): Promise<object> {
  const signal = AbortSignal.timeout(cmd.timeoutMs ?? 30_000)
  switch (cmd.op) {
    case 'transfer': {
      const total = cmd.bytes ?? 1 << 20
      const seed = cmd.seed ?? 1
      const started = performance.now()
      const { stream, hops } = await node.openStream(parsePeerId(cmd.peer!), SINK_CHANNEL, { signal })
      const onAbort = (): void => stream.abort(new Error('transfer timed out'))
      signal.addEventListener('abort', onAbort)
      try {
        await stream.sink(payloadChunks(total, seed))
        let answer = ''
        for await (const chunk of stream.source) answer += new TextDecoder().decode(chunk)
        const [bytes, sha] = answer.trim().split(' ')
        return {
          bytes: Number(bytes),
          sha,
          expected: payloadSha256(total, seed),
          sent: total,
          hops,
          ms: performance.now() - started,
        }
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    }
    case 'ping': {
      const [r] = await node.ping(parsePeerId(cmd.peer!), { count: 1, timeoutMs: cmd.timeoutMs ?? 5_000 })
      return { rttMs: r!.rttMs, hops: r!.hops }
    }
    case 'route': {
      const r = node.router.route(parsePeerId(cmd.peer!))
      return { route: r === undefined ? null : { nextHop: r.nextHop.toString(), hops: r.hops, metric: r.metric } }
    }
    case 'connect': {
      const peer = await node.connect(cmd.addr!, { signal })
      return { peer: peer.toString() }
    }
    case 'open': {
      const { stream } = await node.openStream(parsePeerId(cmd.peer!), cmd.channel ?? SECURE_CHANNEL, {
        signal,
        ...(cmd.token !== undefined ? { credentials: [capabilityCredential(cmd.token)] } : {}),
      })
      let text = ''
      for await (const chunk of stream.source) text += new TextDecoder().decode(chunk)
      return { text: text.trim() }
    }
    case 'broadcast': {
      const report = await node.broadcast(cmd.channel!, Buffer.from(cmd.payload ?? '', 'base64'), {
        signal,
        ...(cmd.targets !== undefined ? { targets: cmd.targets.map(t => parsePeerId(t)) } : {}),
      })
      return {
        delivered: report.delivered.map(String),
        failed: report.failed.map(f => ({ peer: f.peer.toString(), code: f.code, reason: f.reason })),
      }
    }
    case 'stats': {
      const m = process.memoryUsage()
      return { rss: m.rss, heapUsed: m.heapUsed, routes: node.routes().length, peers: node.peers().length }
    }
    default:
      throw new Error(`unknown op ${cmd.op}`)
  }
}

/** Replaces the relay with one that forwards faithfully except for one flipped bit after 64 KiB. */
function evilRelay(n: Node): void {
  n.channels.unhandle(RELAY_CHANNEL)
  n.channels.handle(RELAY_CHANNEL, async stream => {
    const { frame, rest } = await readFrame(stream.source, 512, 'relay OPEN')
    if (frame === undefined) return
    const req = decodeRelayOpen(frame)
    const conn = n.network.connections(req.destination.peerId)[0]
    if (conn === undefined) {
      stream.abort(new Error('evil relay: no connection'))
      return
    }
    const down = await openChannel(await conn.newStream(), RELAY_CHANNEL, {
      localPeer: n.id,
      earlyData: lengthPrefixed(encodeRelayOpen({ ...req, hopLimit: req.hopLimit - 1 })),
    })
    let passed = 0
    let flipped = false
    const tamper = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of rest) {
        passed += chunk.byteLength
        if (!flipped && passed > 64 * 1024) {
          const copy = chunk.slice()
          copy[copy.byteLength >> 1]! ^= 0x10
          flipped = true
          process.stdout.write(`flipped at ${passed}\n`)
          yield copy
        } else yield chunk
      }
    }
    await Promise.all([down.stream.sink(tamper()), stream.sink(down.stream.source)]).catch(() => {})
  })
}
