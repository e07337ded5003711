/**
 * Relayed stream benchmark: a line of five nodes; node 0 opens a stream to node k (k = 1 direct, 2–4 through
 * 1–3 relays, Noise end to end) and measures throughput (one stream, 64 KiB writes) and 64-byte round trips.
 * Ratios are against the direct stream measured in the same run and setting.
 *
 * Settings:
 * - `memory`: all five nodes in this process, memory transport, no link limit: every byte's work (each link's
 *   encryption, the end-to-end encryption, every relay's copy) shares one core, so the ratio mostly counts that work.
 * - `memory 100 Mbit/s`: the same with each link capped at 12.5 MB/s per direction and 1 ms one way, as across a
 *   LAN or WAN: links, not the CPU, are the limit, as with nodes on separate hosts.
 * - `tcp processes`: one process per node over loopback TCP (node 0 here, the others children), sharing this host's
 *   cores. Each node's CPU time during the measured transfer is also taken, giving the CPU cost per MB of the
 *   busiest node on the path; with one host per node each node has its own CPU, so that node is the pipeline's limit
 *   and `1e6 / its µs per MB` estimates the throughput separate hosts would reach when links are faster than CPUs.
 *
 * - `libp2p`: the js-libp2p analog for comparison: three js-libp2p nodes in this process (A, a Circuit Relay v2
 *   server R, B; Noise + yamux on every link and again end to end over the relayed stream), A→B direct and A→R→B,
 *   on the memory transport and on loopback TCP (libp2p-relay.ts). js-libp2p relays one hop only.
 * - `raw`: raw node:net TCP over loopback in this process, the ceiling for every row's `vs raw TCP`.
 *
 * `vs js-libp2p` divides a pnet `memory` row by the js-libp2p memory row with the same number of links (all nodes in
 * one process on the memory transport in both).
 *
 * A setting that fails (a stream error, a node that dies, no result within `--setting-timeout-s`) is reported with
 * its error under the table; the rows it measured before failing are kept, and the other settings still run.
 *
 *   node tooling/bench/dist/router/relay-bench.js [--mib 64] [--rtts 300] [--settings raw,memory,capped,tcp,libp2p]
 *                                                 [--setting-timeout-s 600]
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { createChannelRegistry } from '@pnet/channel'
import { createNetwork, generateKey, type PeerId, parsePeerId, tcp } from '@pnet/network'
import { createRouter, type Router } from '@pnet/router'
import { createNetworkSim } from '@pnet/router/sim'
import { measureLibp2pRelay } from './libp2p-relay.js'
import { ECHO_CHANNEL, SINK_CHANNEL, serveBenchChannels } from './relay-channels.js'

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const mib = Number(flag('mib', '64'))
const rtts = Number(flag('rtts', '300'))
const settings = flag('settings', 'raw,memory,capped,tcp,libp2p').split(',')
const settingTimeoutMs = Number(flag('setting-timeout-s', '600')) * 1000
const CHUNK = 64 * 1024

interface Measured {
  setting: string
  links: number
  mbps: number
  rttUs: number
  /** CPU µs per MB of the busiest node on the path (tcp processes only) */
  busiestCpuUsPerMB?: number
  /** which node that was (0 = the sender) */
  busiestNode?: number
}

/** Cumulative CPU µs (user + system) of every node of a line, node 0 first. */
type CpuProbe = () => Promise<number[]>

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
  // both sides awaited together: a failing stream rejects here, never as an unhandled rejection
  await Promise.all([stream.sink(out), reading])
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

/** Measures node 0 to each peer in turn; rows go into `out` as they are measured, so a failure keeps them. */
async function measureLine(
  setting: string,
  router: Router,
  peers: PeerId[],
  out: Measured[],
  cpu?: CpuProbe,
): Promise<void> {
  for (const [i, peer] of peers.entries()) {
    // warm up the relayed connection and its windows, then measure
    await throughput(router, peer, 4 * 1024 * 1024)
    const before = await cpu?.()
    const mbps = await throughput(router, peer, mib * 1024 * 1024)
    const after = await cpu?.()
    const rttUs = await roundTrip(router, peer, rtts)
    const row: Measured = { setting, links: i + 1, mbps, rttUs }
    if (before !== undefined && after !== undefined) {
      // the nodes on the path: the sender, the relays and the receiver
      const perMB = after.slice(0, i + 2).map((t, n) => (t - before[n]!) / ((mib * 1024 * 1024) / 1e6))
      row.busiestCpuUsPerMB = Math.max(...perMB)
      row.busiestNode = perMB.indexOf(row.busiestCpuUsPerMB)
    }
    out.push(row)
    const busiest =
      row.busiestCpuUsPerMB === undefined ? '' : `, busiest node ${row.busiestCpuUsPerMB.toFixed(0)} CPU µs/MB`
    process.stderr.write(
      `  ${setting} ${i + 1} link(s): ${mbps.toFixed(1)} MB/s, rtt ${rttUs.toFixed(0)} µs${busiest}\n`,
    )
  }
}

async function inProcess(setting: string, capped: boolean, out: Measured[]): Promise<void> {
  const sim = await createNetworkSim({
    size: 5,
    edges: [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ],
    // the memory link's timers have 1 ms granularity: a smaller delay would be no delay at all
    latencyMs: capped ? 1 : 0,
  })
  if (capped) for (const link of sim.hub.links()) link.bandwidthBytesPerSec = 12.5e6
  for (const n of sim.nodes) serveBenchChannels(n.channels)
  await sim.waitConverged({ shortest: true })
  try {
    await measureLine(
      setting,
      sim.nodes[0]!.router,
      sim.nodes.slice(1).map(n => n.peerId),
      out,
    )
  } finally {
    await sim.close()
  }
}

async function processes(out: Measured[]): Promise<void> {
  const entry = fileURLToPath(new URL('./relay-node.js', import.meta.url))
  const network = createNetwork({ privateKey: await generateKey(), transports: [tcp()], limits: { idleTimeoutMs: 0 } })
  const channels = createChannelRegistry({ localPeer: network.peerId })
  network.handle(channels.accept)
  serveBenchChannels(channels)
  const router = createRouter({ network, channels })
  const [own] = await network.listen('tcp://127.0.0.1:0')
  const children: ReturnType<typeof spawn>[] = []
  // a child answers SIGUSR2 with a `CPU <µs>` line; answers come in order
  const cpuWaiters: ((us: number) => void)[][] = []
  const peers: PeerId[] = []
  let previous = own!.toString()
  try {
    for (let i = 1; i <= 4; i++) {
      const child = spawn(process.execPath, [entry, previous], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const waiters: ((us: number) => void)[] = []
      cpuWaiters.push(waiters)
      previous = await new Promise<string>((resolve, reject) => {
        let text = ''
        child.stdout?.on('data', (d: Buffer) => {
          text += d.toString()
          let nl = text.indexOf('\n')
          while (nl >= 0) {
            const line = text.slice(0, nl)
            text = text.slice(nl + 1)
            const addr = /^ADDR (\S+)/.exec(line)?.[1]
            const cpu = /^CPU (\d+)/.exec(line)?.[1]
            if (addr !== undefined) resolve(addr)
            if (cpu !== undefined) waiters.shift()?.(Number(cpu))
            nl = text.indexOf('\n')
          }
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
    const cpu: CpuProbe = async () => {
      const answers = children.map(
        (child, i) =>
          new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`relay node ${i + 1} did not report its CPU time`)), 5000)
            cpuWaiters[i]!.push(us => {
              clearTimeout(timer)
              resolve(us)
            })
            child.kill('SIGUSR2')
          }),
      )
      const self = process.cpuUsage()
      return [self.user + self.system, ...(await Promise.all(answers))]
    }
    await measureLine('tcp processes', router, peers, out, cpu)
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await router.stop()
    await network.close()
  }
}

/** raw node:net TCP over loopback, both ends in this process: `mib` MiB in 64 KiB writes, backpressure honoured */
async function rawTcp(out: Measured[]): Promise<void> {
  const bytes = mib * 1024 * 1024
  let got = 0
  let done: () => void = () => {}
  const received = new Promise<void>(resolve => (done = resolve))
  const server = net.createServer(socket => {
    socket.on('data', (d: Buffer) => {
      got += d.byteLength
      if (got >= bytes) done()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  try {
    const chunk = Buffer.alloc(CHUNK, 0x5a)
    const started = performance.now()
    for (let sent = 0; sent < bytes; sent += CHUNK) if (!socket.write(chunk)) await once(socket, 'drain')
    await received
    const mbps = bytes / 1e6 / ((performance.now() - started) / 1000)
    out.push({ setting: 'raw tcp', links: 1, mbps, rttUs: Number.NaN })
    process.stderr.write(`  raw tcp: ${mbps.toFixed(1)} MB/s\n`)
  } finally {
    socket.destroy()
    server.close()
  }
}

async function libp2pRelay(out: Measured[]): Promise<void> {
  for (const transport of ['memory', 'tcp'] as const) {
    const setting = `js-libp2p ${transport}, one process (circuit relay v2)`
    for (const r of await measureLibp2pRelay({ transport, mib, rtts })) {
      out.push({ setting, links: r.links, mbps: r.mbps, rttUs: r.rttUs })
      process.stderr.write(`  ${setting} ${r.links} link(s): ${r.mbps.toFixed(1)} MB/s, rtt ${r.rttUs.toFixed(0)} µs\n`)
    }
  }
}

// some of the stack's timers are unref'd (they must not keep a real node alive); the benchmark must stay up
const keepAlive = setInterval(() => {}, 60_000)
const runs: Record<string, (out: Measured[]) => Promise<void>> = {
  memory: out => inProcess('memory', false, out),
  capped: out => inProcess('memory 100 Mbit/s', true, out),
  tcp: out => processes(out),
  libp2p: out => libp2pRelay(out),
  raw: out => rawTcp(out),
}
for (const s of settings) if (runs[s] === undefined) throw new Error(`unknown setting ${s}`)

/** Runs one setting to its end, its failure or its deadline; returns the error, if any. */
async function runSetting(name: string, out: Measured[]): Promise<Error | undefined> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no result within ${settingTimeoutMs / 1000} s (--setting-timeout-s)`)),
      settingTimeoutMs,
    )
  })
  const run = runs[name]!(out)
  run.catch(() => {}) // after a deadline the run is abandoned; its later failure is not news
  try {
    await Promise.race([run, deadline])
    return undefined
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  } finally {
    clearTimeout(timer)
  }
}

// errors from a setting's nodes that surface outside its awaited promises belong to the running setting
let current: { name: string; errors: Error[] } | undefined
const stray = (err: unknown): void => {
  const error = err instanceof Error ? err : new Error(String(err))
  if (current === undefined) throw error
  current.errors.push(error)
}
process.on('unhandledRejection', stray)
process.on('uncaughtException', stray)

const results: Measured[] = []
const failures: { setting: string; error: string }[] = []
for (const s of settings) {
  current = { name: s, errors: [] }
  const error = await runSetting(s, results)
  for (const e of [...(error === undefined ? [] : [error]), ...current.errors]) {
    failures.push({ setting: s, error: e.message })
    process.stderr.write(`  ${s} failed: ${e.stack ?? e.message}\n`)
  }
  current = undefined
}

const head = [
  'setting',
  'links',
  'relays',
  'MB/s',
  'of direct',
  'rtt p50 µs',
  'added µs per relay',
  'busiest node CPU µs/MB',
  'one host per node: est. MB/s',
  'est. of direct',
  'vs raw TCP',
  'vs js-libp2p',
]
const raw = results.find(x => x.setting === 'raw tcp')
const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
for (const r of results) {
  const direct = results.find(x => x.setting === r.setting && x.links === 1)
  const relays = r.links - 1
  const libp2p =
    r.setting === 'memory'
      ? results.find(x => x.setting.startsWith('js-libp2p memory') && x.links === r.links)
      : undefined
  lines.push(
    `| ${[
      r.setting,
      r.links,
      relays,
      r.mbps.toFixed(1),
      direct === undefined ? '–' : `${((r.mbps / direct.mbps) * 100).toFixed(0)}%`,
      Number.isNaN(r.rttUs) ? '–' : r.rttUs.toFixed(0),
      relays === 0 || direct === undefined ? '–' : ((r.rttUs - direct.rttUs) / relays).toFixed(0),
      r.busiestCpuUsPerMB === undefined ? '–' : `${r.busiestCpuUsPerMB.toFixed(0)} (node ${r.busiestNode})`,
      r.busiestCpuUsPerMB === undefined ? '–' : (1e6 / r.busiestCpuUsPerMB).toFixed(1),
      r.busiestCpuUsPerMB === undefined || direct?.busiestCpuUsPerMB === undefined
        ? '–'
        : `${((direct.busiestCpuUsPerMB / r.busiestCpuUsPerMB) * 100).toFixed(0)}%`,
      raw === undefined || r === raw ? '–' : `${(r.mbps / raw.mbps).toFixed(2)}×`,
      libp2p === undefined ? '–' : `${(r.mbps / libp2p.mbps).toFixed(2)}×`,
    ].join(' | ')} |`,
  )
}
console.log(`\nRelayed streams: ${mib} MiB per stream, ${rtts} round trips of 64 B (${process.version}).\n`)
console.log(lines.join('\n'))
if (failures.length > 0) {
  console.log('\nFailed settings (rows above are what they measured before failing):\n')
  for (const f of failures) console.log(`- ${f.setting}: ${f.error}`)
}
clearInterval(keepAlive)
process.exit(failures.length > 0 ? 1 : 0)
