import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Connection,
  createNetwork,
  FRAMES_PER_TURN,
  generateKey,
  IdleTimeoutError,
  INBOUND_HANDLERS_PER_TURN,
  type Limits,
  LOG_THROTTLE_MS,
  logThrottled,
  type Network,
  ProtocolViolationError,
  STREAM_CHANGES_PER_TURN,
  STREAM_LIMIT_STRIKES,
  type Stream,
  StreamResetError,
  TooManyStreamsError,
  tcp,
} from '../src/index.js'
import { delay, type LogRecord, readAll, recordingLogger, waitFor } from '../src/testing/index.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const networks: Network[] = []
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(networks.splice(0).map(n => n.close()))
})

async function server(limits: Partial<Limits>) {
  const log = recordingLogger()
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()], limits, logger: log })
  networks.push(n)
  n.handle(stream => {
    stream.sink(stream.source).catch(() => {})
  })
  const disconnects: (Error | undefined)[] = []
  n.on('disconnect', (_c, err) => disconnects.push(err))
  const [addr] = await n.listen('tcp://127.0.0.1:0')
  const port = Number(addr!.toString().split('/')[4])
  return { n, addr: addr!.toString(), port, log, disconnects }
}

async function client(limits: Partial<Limits> = {}) {
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()], limits })
  networks.push(n)
  return n
}

async function echoes(conn: Connection, text = 'ping'): Promise<boolean> {
  const s = await conn.newStream()
  await s.sink([enc.encode(text)])
  return dec.decode(await readAll(s)) === text
}

/** A raw TCP socket to the server that says nothing (or what it is told); `closed` resolves with its lifetime in ms. */
async function rawSocket(port: number, send?: Uint8Array): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  const socket = net.connect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {}) // resets by the server are expected
  socket.resume()
  const started = Date.now()
  const closed = new Promise<number>(resolve => socket.once('close', () => resolve(Date.now() - started)))
  await Promise.race([new Promise(resolve => socket.once('connect', resolve)), closed])
  if (send !== undefined && !socket.destroyed) socket.write(send)
  return { socket, closed }
}

const logged = (records: LogRecord[], needle: string) => records.some(r => JSON.stringify(r).includes(needle))

describe('limits', () => {
  it('maxConnections: the connection past the limit is refused, the others keep working', async () => {
    const s = await server({ maxConnections: 2 })
    const c1 = await (await client()).dial(s.addr)
    const c2 = await (await client()).dial(s.addr)
    const third = await client()
    const refused = await third.dial(s.addr).then(
      c => c.closed.then(() => 'closed'),
      () => 'refused',
    )
    expect(['refused', 'closed']).toContain(refused)
    expect(logged(s.log.records, 'limits.maxConnections')).toBe(true)
    expect(await echoes(c1)).toBe(true)
    expect(await echoes(c2)).toBe(true)
    expect(s.n.connections()).toHaveLength(2)
  })

  it('maxConnectionsPerPeer: a second connection from the same peer is refused', async () => {
    const s = await server({ maxConnectionsPerPeer: 1 })
    const c = await client()
    const first = await c.dial(s.addr)
    const second = await c.dial(s.addr).catch(() => undefined)
    if (second !== undefined) await second.closed // handshake finished on our side, then the server cut it
    await waitFor(() => logged(s.log.records, 'limits.maxConnectionsPerPeer'), 'refusal logged')
    expect(await echoes(first)).toBe(true)
    expect(s.n.connections(c.peerId)).toHaveLength(1)
  })

  it('maxOutboundStreams: opening past the limit throws, open streams work', async () => {
    const s = await server({})
    const conn = await (await client({ maxOutboundStreams: 2 })).dial(s.addr)
    const a = await conn.newStream()
    await conn.newStream()
    await expect(conn.newStream()).rejects.toBeInstanceOf(TooManyStreamsError)
    await a.sink([enc.encode('x')])
    expect(dec.decode(await readAll(a))).toBe('x')
    await waitFor(() => conn.streams.length === 1, 'stream a to end')
    expect(await echoes(conn)).toBe(true) // a slot is free again
  })

  it('maxInboundStreams: past the limit streams are reset; a peer that keeps at it is cut off', async () => {
    const s = await server({ maxInboundStreams: 4 })
    const bystander = await (await client()).dial(s.addr)
    const conn = await (await client()).dial(s.addr)
    const held = await Promise.all([1, 2, 3, 4].map(() => conn.newStream()))
    for (const h of held)
      void h
        .sink(
          (async function* () {
            yield enc.encode('.')
            await delay(60_000)
          })(),
        )
        .catch(() => {})
    await waitFor(() => s.n.connections().some(c => c.stats.openStreams === 4), 'four inbound streams')
    const fifth = await conn.newStream()
    void fifth.sink([enc.encode('5')]).catch(() => {})
    await expect(readAll(fifth)).rejects.toBeInstanceOf(StreamResetError)
    expect(conn.status).toBe('open')
    expect(logged(s.log.records, 'limits.maxInboundStreams')).toBe(true)
    // keep opening: after STREAM_LIMIT_STRIKES refusals the server disconnects us
    for (let i = 0; i < STREAM_LIMIT_STRIKES + 4 && conn.status === 'open'; i++) {
      const x = await conn.newStream().catch(() => undefined)
      void x?.sink([enc.encode('x')]).catch(() => {})
      await delay(5)
    }
    const reason = await conn.closed
    expect(conn.status).toBe('closed')
    expect(reason).toBeDefined()
    await waitFor(() => s.disconnects.length === 1, 'server to drop the peer')
    expect(s.disconnects[0]).toBeInstanceOf(ProtocolViolationError)
    expect(s.disconnects[0]?.message).toContain('kept opening streams past limits.maxInboundStreams (4)')
    expect(logged(s.log.records, 'kept opening streams')).toBe(true)
    expect(await echoes(bystander)).toBe(true)
  })

  it('INBOUND_HANDLERS_PER_TURN: a burst of stream opens starts its handlers a few per turn; all are served', async () => {
    const log = recordingLogger()
    const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()], logger: log })
    networks.push(n)
    // the event-loop turn a handler ran in: a setImmediate chain counts turns while the burst is handled
    let turn = 0
    let counting = true
    const tick = (): void => {
      turn++
      if (counting) setImmediate(tick)
    }
    setImmediate(tick)
    const perTurn = new Map<number, number>()
    let handled = 0
    n.handle(stream => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1)
      handled++
      stream.sink(stream.source).catch(() => {})
    })
    const [addr] = await n.listen('tcp://127.0.0.1:0')
    const conn = await (await client()).dial(addr!.toString())
    const burst = 300
    // opened in one go: the SYN frames leave together and arrive in a read or two
    const streams = await Promise.all(Array.from({ length: burst }, () => conn.newStream()))
    for (const st of streams) void st.sink([enc.encode('x')]).catch(() => {})
    await waitFor(() => handled === burst, 'every stream to be handled')
    counting = false
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(2 * INBOUND_HANDLERS_PER_TURN)
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.floor(burst / (2 * INBOUND_HANDLERS_PER_TURN)))
    expect(await echoes(conn)).toBe(true)
  })

  it(`STREAM_CHANGES_PER_TURN (${STREAM_CHANGES_PER_TURN}): a burst of stream opens and resets is decoded a few per turn; a bystander is served meanwhile`, async () => {
    const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
    networks.push(n)
    let turn = 0
    let counting = true
    const tick = (): void => {
      turn++
      if (counting) setImmediate(tick)
    }
    setImmediate(tick)
    const perTurn = new Map<number, number>()
    const count = (): void => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1)
    }
    let changes = 0
    let seenByBystander = -1
    const bursts = new Set<Connection>()
    n.handle((stream, connection) => {
      if (!bursts.has(connection)) {
        seenByBystander = changes
        stream.sink(stream.source).catch(() => {})
        return
      }
      changes++
      count()
      void stream.closed.then(() => {
        changes++
        count()
      })
    })
    n.on('connection', c => {
      if (bursts.size === 0) bursts.add(c)
    })
    const [addr] = await n.listen('tcp://127.0.0.1:0')
    const conn = await (await client()).dial(addr!.toString())
    await waitFor(() => bursts.size === 1, 'the burst connection on the server')
    const calm = await (await client()).dial(addr!.toString())
    const burst = 1_000
    // SYN and RST for each stream, all written at once; the bystander's request right behind them
    const streams = await Promise.all(Array.from({ length: burst }, () => conn.newStream()))
    for (const st of streams) st.abort(new Error('churn'))
    const echoed = calm.newStream().then(async st => {
      await st.sink([enc.encode('still here')])
      return dec.decode(await readAll(st))
    })
    expect(await echoed).toBe('still here')
    await waitFor(() => changes === 2 * burst, 'every open and reset to be handled')
    counting = false
    expect(seenByBystander).toBeGreaterThanOrEqual(0)
    expect(seenByBystander).toBeLessThan(2 * burst) // served while the burst was still being decoded
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(STREAM_CHANGES_PER_TURN)
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.floor((2 * burst) / STREAM_CHANGES_PER_TURN))
  })

  it(`FRAMES_PER_TURN (${FRAMES_PER_TURN}): a flood of tiny frames is decoded a budget per turn`, async () => {
    const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
    networks.push(n)
    let received: Stream | undefined
    n.handle(stream => {
      received = stream
      void readAll(stream).catch(() => {})
    })
    const [addr] = await n.listen('tcp://127.0.0.1:0')
    const conn = await (await client()).dial(addr!.toString())
    const frames = 5_000
    const st = await conn.newStream()
    await waitFor(() => received !== undefined, 'the stream on the server')
    // bytes the server took in per event-loop turn, sampled by a setImmediate chain
    const perTurn: number[] = []
    let last = 0
    let counting = true
    const tick = (): void => {
      const now = received!.stats.bytesIn
      if (now > last) perTurn.push(now - last)
      last = now
      if (counting) setImmediate(tick)
    }
    setImmediate(tick)
    await st.sink(Array.from({ length: frames }, () => Uint8Array.of(1))) // one DATA frame each
    await waitFor(() => received!.stats.bytesIn === frames, 'every byte on the server')
    counting = false
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(FRAMES_PER_TURN)
    expect(perTurn.length).toBeGreaterThanOrEqual(Math.floor(frames / FRAMES_PER_TURN))
  })

  it(`LOG_THROTTLE_MS (${LOG_THROTTLE_MS}): what a remote can cause at will is logged once per interval, with a count`, async () => {
    const log = recordingLogger()
    for (let i = 0; i < 50; i++) logThrottled(log, 'warn', { i }, 'inbound connection refused')
    logThrottled(log, 'warn', () => ({ other: true }), 'peer cut off') // another message: its own interval
    expect(log.records.map(r => r.msg)).toEqual(['inbound connection refused', 'peer cut off'])
    await delay(LOG_THROTTLE_MS + 50)
    logThrottled(log, 'warn', { i: 50 }, 'inbound connection refused')
    expect(log.records.at(-1)?.fields).toEqual({ i: 50, suppressed: 49 })
    // a refusal flood through the real path: many refused sockets, few lines
    const s = await server({ maxPendingHandshakes: 1, handshakeTimeoutMs: 2_000 })
    await rawSocket(s.port)
    await delay(100)
    const refused = await Promise.all(Array.from({ length: 40 }, () => rawSocket(s.port)))
    await Promise.all(refused.map(r => r.closed))
    const lines = s.log.records.filter(r => r.msg === 'inbound connection refused')
    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines.length).toBeLessThanOrEqual(3)
  })

  it('handshakeTimeoutMs: a socket that never speaks is closed, as is a half-done handshake', async () => {
    const s = await server({ handshakeTimeoutMs: 400 })
    const silent = await rawSocket(s.port)
    // multistream-select header and /noise proposal, then nothing: a stalled handshake
    const mss = Buffer.from('\x13/multistream/1.0.0\n\x07/noise\n', 'latin1')
    const half = await rawSocket(s.port, mss)
    const [t1, t2] = await Promise.all([silent.closed, half.closed])
    expect(t1).toBeGreaterThanOrEqual(300)
    expect(t1).toBeLessThan(5_000)
    expect(t2).toBeLessThan(5_000)
    await waitFor(() => logged(s.log.records, 'timed out after 400 ms'), 'timeout logged')
    expect(await echoes(await (await client()).dial(s.addr))).toBe(true)
  })

  it('idleTimeoutMs: a connection without streams or traffic is closed; a busy one is not', async () => {
    const s = await server({ idleTimeoutMs: 400 })
    const c = await client({ idleTimeoutMs: 60_000 })
    const idle = await c.dial(s.addr)
    const busy = await c.dial(s.addr)
    const stream = await busy.newStream()
    const writer = stream.sink(
      (async function* () {
        for (let i = 0; i < 20; i++) {
          yield enc.encode('tick')
          await delay(50)
        }
      })(),
    )
    await idle.closed
    await waitFor(() => s.disconnects.length === 1, 'server to close the idle connection')
    expect(s.disconnects[0]).toBeInstanceOf(IdleTimeoutError)
    expect(logged(s.log.records, 'closing idle connection')).toBe(true)
    expect(busy).not.toBe(idle)
    expect(busy.status).toBe('open') // 1 s of ticks on an open stream, well past 400 ms
    await writer
    expect(busy.status).toBe('open')
  })

  it('maxPendingHandshakes: connections past it are dropped at once, until the pending ones finish', async () => {
    const s = await server({ maxPendingHandshakes: 2, handshakeTimeoutMs: 1_500 })
    const a = await rawSocket(s.port)
    const b = await rawSocket(s.port)
    await delay(100)
    const c = await rawSocket(s.port)
    const dropped = await Promise.race([c.closed, delay(1_000).then(() => -1)])
    expect(dropped).toBeGreaterThanOrEqual(0)
    expect(dropped).toBeLessThan(1_000)
    expect(a.socket.destroyed).toBe(false)
    expect(b.socket.destroyed).toBe(false)
    expect(logged(s.log.records, 'limits.maxPendingHandshakes')).toBe(true)
    await Promise.all([a.closed, b.closed]) // their handshakes time out
    expect(await echoes(await (await client()).dial(s.addr))).toBe(true)
  })
})
