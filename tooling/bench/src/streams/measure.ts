/** The four measurements of the stream benchmark, over any {@link Impl}. */
import type { BenchConn, Duplex, Impl, TransportName } from './impls.js'

export interface Result {
  singleMBps: number
  parallelMBps: number
  rttP50us: number
  rttP99us: number
  setupMs: number
}

const CHUNK = 64 * 1024

function* chunks(total: number, chunk: Uint8Array): Generator<Uint8Array> {
  for (let sent = 0; sent < total; sent += chunk.byteLength) yield chunk
}

async function firstBytes(source: AsyncIterable<Uint8Array>, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n)
  let have = 0
  for await (const c of source) {
    out.set(c.subarray(0, n - have), have)
    have += Math.min(c.byteLength, n - have)
    if (have === n) break
  }
  if (have < n) throw new Error(`stream ended after ${have} of ${n} bytes`)
  return out
}

/** Sends `total` bytes on one sink-mode stream; resolves when the server confirmed the count. */
async function push(conn: BenchConn, total: number): Promise<void> {
  const d = await conn.stream('S')
  const chunk = new Uint8Array(CHUNK).fill(0x5a)
  const [, answer] = await Promise.all([d.sink(chunks(total, chunk)), firstBytes(d.source, 8)])
  const got = Number(new DataView(answer.buffer).getBigUint64(0))
  if (got !== total) throw new Error(`server counted ${got} bytes, ${total} were sent`)
}

export async function throughput(conn: BenchConn, total: number, streams: number): Promise<number> {
  const per = Math.floor(total / streams / CHUNK) * CHUNK
  const started = performance.now()
  await Promise.all(Array.from({ length: streams }, () => push(conn, per)))
  return (per * streams) / 1e6 / ((performance.now() - started) / 1000)
}

/** 64-byte round trips on one open echo stream. */
export async function roundTrips(conn: BenchConn, count: number): Promise<{ p50: number; p99: number }> {
  const d: Duplex = await conn.stream('E')
  const ping = new Uint8Array(64).fill(1)
  const samples: number[] = []
  let waiting: (() => void) | undefined
  let pending = 0
  const reader = (async () => {
    for await (const c of d.source) {
      pending -= c.byteLength
      if (pending <= 0) waiting?.()
    }
  })()
  await d.sink(
    (async function* () {
      for (let i = 0; i < count; i++) {
        const got = new Promise<void>(r => {
          waiting = r
        })
        pending = 64
        const t0 = performance.now()
        yield ping
        await got
        samples.push((performance.now() - t0) * 1000)
      }
    })(),
  )
  await reader
  samples.splice(0, Math.min(50, Math.floor(count / 10))) // warm-up
  samples.sort((a, b) => a - b)
  return { p50: samples[Math.floor(samples.length / 2)] ?? 0, p99: samples[Math.floor(samples.length * 0.99)] ?? 0 }
}

/** Dial → first stream usable (one byte echoed), median of `count` fresh connections. */
export async function setup(impl: Impl, t: TransportName, addr: string, count: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const t0 = performance.now()
    const conn = await impl.dial(t, addr)
    const d = await conn.stream('E')
    await Promise.all([d.sink([new Uint8Array([7])]), firstBytes(d.source, 1)])
    times.push(performance.now() - t0)
    await conn.close()
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] ?? 0
}

export async function measure(
  impl: Impl,
  t: TransportName,
  addr: string,
  opts: { bytes: number; rtts: number; setups: number },
): Promise<Result> {
  const conn = await impl.dial(t, addr)
  try {
    const singleMBps = await throughput(conn, opts.bytes, 1)
    const parallelMBps = await throughput(conn, opts.bytes, 16)
    const { p50, p99 } = await roundTrips(conn, opts.rtts)
    const setupMs = await setup(impl, t, addr, opts.setups)
    return { singleMBps, parallelMBps, rttP50us: p50, rttP99us: p99, setupMs }
  } finally {
    await conn.close()
  }
}
