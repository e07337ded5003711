/**
 * Stream benchmark: pnet beside raw node:net TCP and stock js-libp2p, measured in the same run, same process and
 * two processes. Prints one table per mode.
 *
 *   node tooling/bench/dist/streams/stream-bench.js [--mode same|two|both] [--mib 256] [--transports tcp,ws,quic,memory]
 *                                                   [--rtts 2000] [--setups 20] [--quick]
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Impl, impls, type Served, type TransportName } from './impls.js'
import { measure, type Result } from './measure.js'

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const quick = args.includes('--quick')
const mode = flag('mode', 'both')
const bytes = Number(flag('mib', quick ? '32' : '256')) * 1024 * 1024
const rtts = Number(flag('rtts', quick ? '300' : '2000'))
const setups = Number(flag('setups', quick ? '5' : '20'))
const transports = flag('transports', 'tcp,ws,quic,memory').split(',') as TransportName[]

async function serveInChild(impl: Impl, t: TransportName): Promise<Served> {
  const entry = fileURLToPath(new URL('./server.js', import.meta.url))
  const key = Object.entries(impls).find(([, v]) => v === impl)?.[0] ?? 'pnet'
  const child = spawn(process.execPath, [entry, key, t], { stdio: ['ignore', 'pipe', 'inherit'] })
  const addr = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /ADDR (\S+)/.exec(out)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.once('exit', code => reject(new Error(`bench server exited with ${code}`)))
  })
  return {
    addr,
    close: async () => {
      child.kill('SIGTERM')
      await new Promise(r => child.once('exit', r))
    },
  }
}

interface Row {
  transport: TransportName
  impl: string
  r: Result
}

async function run(twoProcess: boolean): Promise<Row[]> {
  const rows: Row[] = []
  for (const t of transports) {
    if (twoProcess && t === 'memory') continue // in-process by definition
    for (const impl of [impls.raw!, impls.pnet!, impls['js-libp2p']!]) {
      if (!impl.supports(t) && !(impl.name === 'raw tcp')) continue
      const transport: TransportName = impl.name === 'raw tcp' ? 'tcp' : t
      if (impl.name === 'raw tcp' && t !== transports[0]) continue // one raw baseline per table
      const served = twoProcess ? await serveInChild(impl, transport) : await impl.serve(transport)
      try {
        const r = await measure(impl, transport, served.addr, { bytes, rtts, setups })
        rows.push({ transport, impl: impl.name, r })
        process.stderr.write(
          `  ${twoProcess ? 'two' : 'one'} process  ${transport.padEnd(6)} ${impl.name.padEnd(10)} ${r.singleMBps.toFixed(0)} MB/s\n`,
        )
      } catch (err) {
        process.stderr.write(`  ${transport} ${impl.name}: failed: ${(err as Error).message}\n`)
      } finally {
        await served.close()
      }
    }
  }
  return rows
}

function table(title: string, rows: Row[]): string {
  const raw = rows.find(x => x.impl === 'raw tcp')?.r
  const lib = (t: TransportName) => rows.find(x => x.impl === 'js-libp2p' && x.transport === t)?.r
  const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`)
  const head =
    '| transport | impl | 1 stream MB/s | 16 streams MB/s | 64 B RTT p50 µs | p99 µs | setup ms | 1 stream vs raw TCP | vs js-libp2p | RTT vs raw TCP |'
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'
  const lines = rows.map(({ transport, impl, r }) =>
    [
      transport,
      impl,
      r.singleMBps.toFixed(0),
      r.parallelMBps.toFixed(0),
      r.rttP50us.toFixed(0),
      r.rttP99us.toFixed(0),
      r.setupMs.toFixed(2),
      impl === 'raw tcp' ? '1.00×' : ratio(r.singleMBps, raw?.singleMBps),
      impl === 'js-libp2p' ? '1.00×' : ratio(r.singleMBps, lib(transport)?.singleMBps),
      impl === 'raw tcp' ? '1.00×' : ratio(r.rttP50us, raw?.rttP50us),
    ].join(' | '),
  )
  return [`### ${title}`, '', head, sep, ...lines.map(l => `| ${l} |`), ''].join('\n')
}

const out: string[] = [
  `stream benchmark: ${bytes / 2 ** 20} MiB per throughput run, 64 KiB writes, ${rtts} round trips, ${setups} setups; node ${process.version}`,
  '',
]
if (mode === 'same' || mode === 'both') out.push(table('sender and receiver in one process', await run(false)))
if (mode === 'two' || mode === 'both') out.push(table('sender and receiver in two processes', await run(true)))
console.log(out.join('\n'))
process.exit(0)
