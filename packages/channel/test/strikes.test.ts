/**
 * Strikes: streams a peer wastes or breaks are charged to the peer (not the stream, not the connection); past
 * limits.protocolStrikes its connection is cut, and if it comes straight back it is held muted until its score has
 * leaked below the limit. Real TCP connections; a bystander peer on the same node must not notice.
 */
import { type Connection, createNetwork, generateKey, type Network, tcp } from '@pnet/network'
import { waitFor } from '@pnet/network/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ChannelRegistry,
  createChannelRegistry,
  MAX_STRIKE_PEERS,
  NoSuchChannelError,
  OVERSIZED_FRAME_STRIKES,
  openChannel,
  STRIKE_LEAK_PER_SECOND,
  WASTED_STREAM_STRIKES,
} from '../src/index.js'
import { MULTISTREAM_PROTOCOL, multistreamMessage } from '../src/multistream.js'
import { StrikeLedger } from '../src/strikes.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const networks: Network[] = []

afterEach(async () => {
  await Promise.all(networks.splice(0).map(n => n.close().catch(() => {})))
})

async function node(): Promise<Network> {
  const n = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
  networks.push(n)
  return n
}

/** A node serving /pnet/echo with the given strike limit, and its address. */
async function server(protocolStrikes: number): Promise<{ net: Network; registry: ChannelRegistry; addr: string }> {
  const net = await node()
  const registry = createChannelRegistry({ localPeer: net.peerId, limits: { protocolStrikes } })
  registry.handle('/pnet/echo', async s => s.sink(s.source))
  net.handle(registry.accept)
  const [addr] = await net.listen('tcp://127.0.0.1:0')
  return { net, registry, addr: addr!.toString() }
}

async function echoes(conn: Connection, text = 'hello'): Promise<boolean> {
  const ch = await openChannel(await conn.newStream(), '/pnet/echo')
  await ch.stream.sink([enc.encode(text)])
  let got = ''
  for await (const c of ch.stream.source) got += dec.decode(c)
  return got === text
}

/** The server's side of the next connection it accepts (listen before dialing). */
function nextConnection(srv: Network): Promise<Connection> {
  return new Promise(resolve => srv.once('connection', resolve))
}

describe('strikes', () => {
  it('limits.protocolStrikes: a peer that keeps asking for unknown channels is cut off; another peer is not', async () => {
    const s = await server(8)
    const attacker = await node()
    const bystander = await node()
    const arrived = nextConnection(s.net)
    const conn = await attacker.dial(s.addr)
    const cut = arrived.then(c => c.closed)
    const calm = await bystander.dial(s.addr)
    // an unknown channel costs WASTED_STREAM_STRIKES: 8 strikes are 32 of them
    const wasted = 8 / WASTED_STREAM_STRIKES
    for (let i = 0; i < wasted - 1; i++) {
      await expect(openChannel(await conn.newStream(), '/pnet/nope')).rejects.toBeInstanceOf(NoSuchChannelError)
    }
    expect(conn.status).toBe('open') // 31 unknown channels are probes or mistakes, not yet abuse
    expect(await echoes(calm)).toBe(true)
    await openChannel(await conn.newStream(), '/pnet/nope').catch(() => {})
    const err = await cut
    expect(err?.message).toMatch(/8 channel protocol strikes .*last: asked for an unknown channel/)
    await waitFor(() => conn.status === 'closed', 'the attacker to see its connection cut')
    expect(calm.status).toBe('open')
    expect(await echoes(calm)).toBe(true)
  })

  it('streams reset before they select a channel are strikes too (a peer churning streams is cut off)', async () => {
    const s = await server(8)
    const attacker = await node()
    const arrived = nextConnection(s.net)
    const conn = await attacker.dial(s.addr)
    const cut = arrived.then(c => c.closed)
    // open and reset at once, as fast as possible: the server sees each stream, then its reset
    for (let i = 0; i < 64 && conn.status === 'open'; i++) {
      const st = await conn.newStream().catch(() => undefined)
      st?.abort(new Error('churn'))
      await new Promise(r => setImmediate(r))
    }
    const err = await cut
    expect(err?.message).toMatch(/8 channel protocol strikes/)
  })

  it(`WASTED_STREAM_STRIKES (${WASTED_STREAM_STRIKES}): a legitimate peer that probes for channels and cancels opens keeps its connection`, async () => {
    const net = await node()
    const registry = createChannelRegistry({ localPeer: net.peerId }) // default limits: 32 strikes
    registry.handle('/pnet/echo', async s => s.sink(s.source))
    net.handle(registry.accept)
    const [addr] = await net.listen('tcp://127.0.0.1:0')
    const client = await node()
    const arrived = nextConnection(net)
    const conn = await client.dial(addr!.toString())
    const remote = await arrived
    // 100 probes for channels this node does not have, 20 opens cancelled mid-handshake: 30 strikes in a burst,
    // under the default 32 (a whole strike each would have cut it at the 32nd)
    for (let i = 0; i < 100; i++) {
      await expect(openChannel(await conn.newStream(), `/app/optional/${i}`)).rejects.toBeInstanceOf(NoSuchChannelError)
    }
    for (let i = 0; i < 20; i++) {
      const st = await conn.newStream()
      st.abort(new Error('the caller gave up'))
    }
    expect(await echoes(conn)).toBe(true)
    expect(remote.status).toBe('open')
    expect(conn.status).toBe('open')
  })

  it(`OVERSIZED_FRAME_STRIKES (${OVERSIZED_FRAME_STRIKES}): a frame declared over the wire limit costs that many`, async () => {
    const s = await server(32)
    const attacker = await node()
    const arrived = nextConnection(s.net)
    const conn = await attacker.dial(s.addr)
    const remote = await arrived
    const oversized = async (): Promise<void> => {
      const st = await conn.newStream()
      // /pnet/echo, then a header frame whose length prefix says 1 GiB
      const head = [multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/echo')]
      await st.sink([...head, Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x04)]).catch(() => {})
      await (async () => {
        for await (const _ of st.source) {
        }
      })().catch(() => {})
    }
    const perCut = Math.ceil(32 / OVERSIZED_FRAME_STRIKES)
    for (let i = 0; i < perCut - 1; i++) await oversized()
    expect(remote.status).toBe('open')
    await oversized()
    const err = await remote.closed
    expect(err?.message).toMatch(/32 channel protocol strikes .*over the limit/)
  })

  it('a peer cut off that reconnects at once is muted, closed when its score has leaked below the limit, then served again', async () => {
    const s = await server(3)
    const attacker = await node()
    const bystander = await node()
    const calm = await bystander.dial(s.addr)
    const first = await attacker.dial(s.addr)
    // a burst worth 6 strikes, all charged (the connection is cut at 3), so the score stays over the limit a while
    const streams = await Promise.all(Array.from({ length: 6 / WASTED_STREAM_STRIKES }, () => first.newStream()))
    await Promise.all(streams.map(st => openChannel(st, '/pnet/nope').catch(() => {})))
    await waitFor(() => first.status === 'closed', 'the first connection to be cut')

    // straight back: the connection is accepted, its first stream gets no answer at all
    const arrived = nextConnection(s.net)
    const second = await attacker.dial(s.addr)
    const remote = await arrived
    const started = Date.now()
    const pending = openChannel(await second.newStream(), '/pnet/echo')
    pending.catch(() => {})
    const quiet = await Promise.race([
      pending.then(() => 'answered'),
      new Promise(r => setTimeout(() => r('quiet'), 500)),
    ])
    expect(quiet).toBe('quiet')
    expect(await echoes(calm)).toBe(true) // the bystander is served meanwhile
    const err = await remote.closed
    expect(err?.message).toMatch(/still over the strike limit \(\d+ strikes\): held \d+ ms, then closed/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    await expect(pending).rejects.toThrow()

    // the score leaked below the limit while it was held: served again
    const third = await attacker.dial(s.addr)
    expect(await echoes(third)).toBe(true)
  })
})

describe('StrikeLedger', () => {
  it(`STRIKE_LEAK_PER_SECOND (${STRIKE_LEAK_PER_SECOND}): whole strikes leak away; scores are capped`, () => {
    let now = 0
    const ledger = new StrikeLedger({ leakPerSecond: STRIKE_LEAK_PER_SECOND, maxPeers: 16, cap: 10, now: () => now })
    expect(ledger.charge('a', 3)).toBe(3)
    now += 999
    expect(ledger.score('a')).toBe(3) // strikes in quick succession add up exactly
    now += 1
    expect(ledger.score('a')).toBe(3 - STRIKE_LEAK_PER_SECOND)
    now += 60_000
    expect(ledger.score('a')).toBe(0)
    expect(ledger.charge('a', 100)).toBe(10)
  })

  it(`MAX_STRIKE_PEERS (${MAX_STRIKE_PEERS}): past it the peer charged least recently is forgotten`, () => {
    const ledger = new StrikeLedger({ leakPerSecond: STRIKE_LEAK_PER_SECOND, maxPeers: MAX_STRIKE_PEERS, cap: 64 })
    ledger.charge('first', 5)
    ledger.charge('second', 5)
    for (let i = 0; i < MAX_STRIKE_PEERS - 2; i++) ledger.charge(`peer-${i}`, 1)
    expect(ledger.size).toBe(MAX_STRIKE_PEERS)
    ledger.charge('first', 1) // charged again: now the most recent
    ledger.charge('one-more', 1)
    expect(ledger.size).toBe(MAX_STRIKE_PEERS)
    expect(ledger.score('second')).toBe(0) // the least recently charged went
    expect(ledger.score('first')).toBe(6)
  })
})
