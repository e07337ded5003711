/**
 * Relayed stream benchmark: a line of five nodes; node 0 opens a stream to node k (k = 1 direct, 2–4 through
 * 1–3 relays, Noise end to end) and measures throughput (one stream, 64 KiB writes) and 64-byte round trips.
 * Ratios are against the direct stream measured in the same run and setting.
 *
 * Settings:
 * - `memory`: all five nodes in this process, memory transport, no link limit: every byte's work (each link's
 *   encryption, the end-to-end encryption, every relay's copy) shares one core, so the ratio mostly counts that work.
 * - `memory 100 Mbit/s`: the same with each link capped at 12.5 MB/s per direction and 0.5 ms one way, as across a
 *   LAN or WAN: links, not the CPU, are the limit, as with nodes on separate hosts.
 * - `tcp processes`: one process per node over loopback TCP (node 0 here, the others children), sharing this host's
 *   cores.
 *
 *   node tooling/bench/dist/router/relay-bench.js [--mib 64] [--rtts 300] [--settings memory,capped,tcp]
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createChannelRegistry } from '@pnet/channel'
import { createNetwork, generateKey, type PeerId, parsePeerId, tcp } from '@pnet/network'
import { createRouter, type Router } from '@pnet/router'
import { createNetworkSim } from '@pnet/router/sim'
import { ECHO_CHANNEL, SINK_CHANNEL, serveBenchChannels } from './relay-channels.js'

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const mib = Number(flag('mib', '64'))
const rtts = Number(flag('rtts', '300'))
const settings = flag('settings', 'memory,capped,tcp').split(',')
const CHUNK = 64 * 1024

interface Measured {
  setting: string
  links: number
  mbps: number
  rttUs: number
}

async function throughput(router: Router, peer: PeerId, bytes: number): Promise<number> {
  const { stream } = await router.openStream(peer, SINK_CHANNEL)
  const chunk = new Uint8Array(CHUNK).fill(0x5a)
  const started = performance.now()
  await stream.sink(
    (function* () {
      for (let sent = 0; sent < bytes; sent += CHUNK) yield chunk
    })(),
  )
  const parts: Uint8Array[] = []
  for await (const c of stream.source) parts.push(c)
  const got = Number(Buffer.concat(parts).readBigUInt64BE(0))
  if (got !== bytes) throw new Error(`sink counted ${got} of ${bytes} bytes`)
  return bytes / 1e6 / ((performance.now() - started) / 1000)
}

async function roundTrip(router: Router, peer: PeerId, count: number): Promise<number> {
  const { stream } = await router.openStream(peer, ECHO_CHANNEL)
  const ping = new Uint8Array(64).fill(1)
  const samples: number[] = []
  const it = stream.source[Symbol.asyncIterator]()
  let wake: (() => void) | undefined
  const out = (async function* () {
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      const done = new Promise<void>(resolve => (wake = resolve))
      yield ping
      await done
      samples.push((performance.now() - t) * 1000)
    }
  })()
  const reading = (async () => {
    let pending = 0
    for (;;) {
      const next = await it.next()
      if (next.done === true) return
      pending += next.value.byteLength
      if (pending >= 64) {
        pending -= 64
        wake?.()
      }
    }
  })()
  await stream.sink(out)
  await reading
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

async function measureLine(setting: string, router: Router, peers: PeerId[]): Promise<Measured[]> {
  const out: Measured[] = []
  for (const [i, peer] of peers.entries()) {
    // warm up the relayed connection and its windows, then measure
    await throughput(router, peer, 4 * 1024 * 1024)
    const mbps = await throughput(router, peer, mib * 1024 * 1024)
    const rttUs = await roundTrip(router, peer, rtts)
    out.push({ setting, links: i + 1, mbps, rttUs })
    process.stderr.write(`  ${setting} ${i + 1} link(s): ${mbps.toFixed(1)} MB/s, rtt ${rttUs.toFixed(0)} µs\n`)
  }
  return out
}

async function inProcess(setting: string, capped: boolean): Promise<Measured[]> {
  const sim = await createNetworkSim({
    size: 5,
    edges: [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ],
    latencyMs: capped ? 0.5 : 0,
  })
  if (capped) for (const link of sim.hub.links()) link.bandwidthBytesPerSec = 12.5e6
  for (const n of sim.nodes) serveBenchChannels(n.channels)
  await sim.waitConverged({ shortest: true })
  try {
    return await measureLine(
      setting,
      sim.nodes[0]!.router,
      sim.nodes.slice(1).map(n => n.peerId),
    )
  } finally {
    await sim.close()
  }
}

async function processes(): Promise<Measured[]> {
  const entry = fileURLToPath(new URL('./relay-node.js', import.meta.url))
  const network = createNetwork({ privateKey: await generateKey(), transports: [tcp()], limits: { idleTimeoutMs: 0 } })
  const channels = createChannelRegistry({ localPeer: network.peerId })
  network.handle(channels.accept)
  serveBenchChannels(channels)
  const router = createRouter({ network, channels })
  const [own] = await network.listen('tcp://127.0.0.1:0')
  const children: ReturnType<typeof spawn>[] = []
  const peers: PeerId[] = []
  let previous = own!.toString()
  try {
    for (let i = 1; i <= 4; i++) {
      const child = spawn(process.execPath, [entry, previous], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      previous = await new Promise<string>((resolve, reject) => {
        let text = ''
        child.stdout?.on('data', (d: Buffer) => {
          text += d.toString()
          const m = /ADDR (\S+)/.exec(text)
          if (m?.[1] !== undefined) resolve(m[1])
        })
        child.once('exit', code => reject(new Error(`relay node exited with ${code}`)))
      })
      const id = previous.split('/p2p/')[1]!
      peers.push(parsePeerId(id))
    }
    const deadline = Date.now() + 30_000
    while (peers.some(p => router.route(p) === undefined)) {
      if (Date.now() > deadline) throw new Error('the line did not converge')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    return await measureLine('tcp processes', router, peers)
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await router.stop()
    await network.close()
  }
}

// some of the stack's timers are unref'd (they must not keep a real node alive); the benchmark must stay up
const keepAlive = setInterval(() => {}, 60_000)
const results: Measured[] = []
for (const s of settings) {
  if (s === 'memory') results.push(...(await inProcess('memory', false)))
  else if (s === 'capped') results.push(...(await inProcess('memory 100 Mbit/s', true)))
  else if (s === 'tcp') results.push(...(await processes()))
  else throw new Error(`unknown setting ${s}`)
}

const head = ['setting', 'links', 'relays', 'MB/s', 'of direct', 'rtt p50 µs', 'added µs per relay']
const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
for (const r of results) {
  const direct = results.find(x => x.setting === r.setting && x.links === 1)!
  const relays = r.links - 1
  lines.push(
    `| ${[
      r.setting,
      r.links,
      relays,
      r.mbps.toFixed(1),
      `${((r.mbps / direct.mbps) * 100).toFixed(0)}%`,
      r.rttUs.toFixed(0),
      relays === 0 ? '–' : ((r.rttUs - direct.rttUs) / relays).toFixed(0),
    ].join(' | ')} |`,
  )
}
console.log(`\nRelayed streams: ${mib} MiB per stream, ${rtts} round trips of 64 B (${process.version}).\n`)
console.log(lines.join('\n'))
clearInterval(keepAlive)
process.exit(0)
