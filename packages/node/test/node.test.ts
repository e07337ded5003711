import { mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { createMemoryHub, generateKey, type MemoryHub, memory, tcp } from '@pnet/network'
import { readAll, waitFor } from '@pnet/network/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { backoffDelay, createNode, DEFAULT_RECONNECT, type Node } from '../src/index.js'

const nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(n => n.stop({ drainMs: 500 }).catch(() => {})))
})

const fast = { keepalive: { intervalMs: 200, timeoutMs: 1_000 }, reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 } }

async function memNode(hub: MemoryHub, name: string, join?: string, timers = fast): Promise<Node> {
  const node = await createNode({
    key: await generateKey(),
    transports: [memory({ hub })],
    listen: [`/memory/${name}`],
    join: join === undefined ? [] : [join],
    ...timers,
  })
  nodes.push(node)
  await node.start()
  return node
}

const reaches = (from: Node, to: PeerId) => from.reachable().some(p => p.equals(to))

/** a — b — c — d, each joined through its left neighbour only */
async function line(hub: MemoryHub, prefix: string, timers = fast): Promise<Node[]> {
  const out: Node[] = []
  for (let i = 0; i < 4; i++)
    out.push(await memNode(hub, `${prefix}${i}`, i === 0 ? undefined : `/memory/${prefix}${i - 1}`, timers))
  await waitFor(() => reaches(out[0]!, out[3]!.id) && reaches(out[3]!, out[0]!.id), 'the ends to reach each other')
  return out
}

describe('node', () => {
  it('keeps its identity in a key file created with mode 0600', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-node-'))
    const keyFile = join(dir, 'node.key')
    const a = await createNode({ keyFile, transports: [tcp()] })
    const b = await createNode({ keyFile, transports: [tcp()] })
    expect(a.id.toString()).toBe(b.id.toString())
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
  })

  it('joins through one address of any node; the ends of a line reach each other, streams relay end to end', async () => {
    const hub = createMemoryHub()
    const [a, b, , d] = await line(hub, 'line')
    expect(a!.peers().map(p => p.peer.toString())).toEqual([b!.id.toString()])
    expect(a!.routes().find(r => r.destination.equals(d!.id))?.hops).toBe(3)

    d!.handle('ftp', async stream => {
      const got = Buffer.from(await readAll(stream)).toString()
      await stream.sink([Buffer.from(`${got} world`)])
    })
    const { stream, relayed, hops } = await a!.openStream(d!.id, 'ftp')
    expect(relayed).toBe(true)
    expect(hops).toBe(3)
    await stream.sink([Buffer.from('hello')])
    expect(Buffer.from(await readAll(stream)).toString()).toBe('hello world')
  })

  it('request/response and one-way sends, direct and multi-hop', async () => {
    const hub = createMemoryHub()
    const [a, b, , d] = await line(hub, 'rpc')
    const seen: string[] = []
    for (const n of [b!, d!]) {
      n.handle('/pnet/greet', async (stream, ctx) => {
        for await (const chunk of stream.source) seen.push(`${ctx.remotePeer.toString().slice(-4)}:${chunk.byteLength}`)
        await stream.close()
      })
    }
    const { rpcHandler } = await import('@pnet/channel')
    d!.unhandle('/pnet/greet')
    d!.handle('/pnet/greet', rpcHandler<{ name: string }, string>({ call: ({ name }) => `hello ${name}` }))
    expect(await a!.request<string>(d!.id, '/pnet/greet', { name: 'ada' })).toBe('hello ada')
    await a!.send(b!.id, '/pnet/greet', { name: 'bob' })
    await waitFor(() => seen.length > 0, 'the one-way message at b')
  })

  it('broadcasts to every reachable node and reports each one', async () => {
    const hub = createMemoryHub()
    const all = await line(hub, 'bc')
    const got: string[] = []
    for (const n of all.slice(1))
      n.handleBroadcast('news', msg => void got.push(`${n.id.toString()}:${Buffer.from(msg.payload).toString()}`))
    const report = await all[0]!.broadcast('news', Buffer.from('hi'))
    expect(report.delivered.map(String).sort()).toEqual(
      all
        .slice(1)
        .map(n => n.id.toString())
        .sort(),
    )
    expect(report.failed).toHaveLength(0)
    await waitFor(() => got.length === 3, 'three deliveries')
  })

  it('answers libp2p ping, across hops', async () => {
    const hub = createMemoryHub()
    const [a, , , d] = await line(hub, 'ping')
    const replies = await a!.ping(d!.id, { count: 3, intervalMs: 10 })
    expect(replies.map(r => r.seq)).toEqual([1, 2, 3])
    expect(replies.every(r => r.hops === 3 && r.rttMs > 0)).toBe(true)
  })

  it('redials a lost neighbour with backoff; routes come back', async () => {
    const hub = createMemoryHub()
    const [a, b, c, d] = await line(hub, 'redial')
    const downs: string[] = []
    const ups: string[] = []
    c!.on('peer:disconnect', p => downs.push(p.toString()))
    c!.on('peer:connect', p => ups.push(p.toString()))
    hub.cut(c!.id, b!.id) // c joined through b: c redials
    await waitFor(() => downs.includes(b!.id.toString()), 'c to see b go')
    await waitFor(() => ups.includes(b!.id.toString()), 'c to redial b')
    await waitFor(() => reaches(a!, d!.id), 'a to reach d again')
  })

  it('detects a dead (black-holed) link by keepalive, cuts it and redials when the link heals', async () => {
    const hub = createMemoryHub()
    const [a, b, c] = await line(hub, 'dead')
    hub.blackhole(b!.id, c!.id, true)
    const started = Date.now()
    await waitFor(() => !reaches(a!, c!.id), 'routes through the dead link to be withdrawn', 10_000)
    const detectedMs = Date.now() - started
    expect(detectedMs).toBeLessThan(5_000) // keepalive timeout 1 s + update
    hub.blackhole(b!.id, c!.id, false)
    await waitFor(() => reaches(a!, c!.id), 'the link to come back', 15_000)
  })

  it('stop() withdraws its routes at once and stops redialing', async () => {
    const hub = createMemoryHub()
    // a keepalive far longer than the wait below: a losing c in time can only be c's withdrawal, not a detection
    const slowKeepalive = { ...fast, keepalive: { intervalMs: 5_000, timeoutMs: 60_000 } }
    const [a, b, c] = await line(hub, 'stop', slowKeepalive)
    await c!.stop()
    await waitFor(() => !reaches(a!, c!.id), 'a to lose c', 15_000)
    expect(b!.peers().some(p => p.peer.equals(c!.id))).toBe(false)
  })

  it('counts connections and bytes per transport and streams per channel', async () => {
    const a = await createNode({ key: await generateKey(), transports: [tcp()], listen: ['tcp://127.0.0.1:0'] })
    const b = await createNode({ key: await generateKey(), transports: [tcp()], join: [] })
    nodes.push(a, b)
    await a.start()
    await b.start()
    a.handle('sink', async stream => {
      await readAll(stream)
      await stream.close()
    })
    await b.connect(a.addrs[0]!)
    const { stream } = await b.openStream(a.id, 'sink')
    await stream.sink([new Uint8Array(100_000)])
    await waitFor(() => (a.metrics().streams.byChannel['/pnet/sink']?.bytesIn ?? 0) >= 100_000, 'bytes counted')
    const m = b.metrics()
    expect(m.connections.byTransport.tcp?.open).toBe(1)
    expect(m.connections.byTransport.tcp?.bytesOut).toBeGreaterThan(100_000)
    // the payload plus the channel's selection and header, which travel on the same stream
    const out = m.streams.byChannel['/pnet/sink']?.bytesOut ?? 0
    expect(out).toBeGreaterThanOrEqual(100_000)
    expect(out).toBeLessThan(100_000 + 512)
    expect(m.streams.byChannel['/pnet/sink']?.opened).toBe(1)
  })

  it('computes redial delays with exponential backoff, a cap and jitter', () => {
    const opts = { ...DEFAULT_RECONNECT, jitter: 0 }
    expect([0, 1, 2, 3].map(i => backoffDelay(i, opts))).toEqual([500, 1000, 2000, 4000])
    expect(backoffDelay(30, opts)).toBe(opts.maxDelayMs)
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(2, DEFAULT_RECONNECT)))
    expect(spread.size).toBeGreaterThan(10)
    for (const d of spread) expect(Math.abs(d - 2000)).toBeLessThanOrEqual(2000 * DEFAULT_RECONNECT.jitter)
  })

  it('a first connect() that fails is reported and not retried', async () => {
    const a = await createNode({ key: await generateKey(), transports: [tcp()] })
    nodes.push(a)
    await a.start()
    await expect(a.connect('tcp://127.0.0.1:1')).rejects.toThrow(/dial \/ip4\/127.0.0.1\/tcp\/1 failed/)
  })
})
