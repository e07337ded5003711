import { createHash } from 'node:crypto'
import { allow, deny, openChannel } from '@pnet/channel'
import { createMemoryHub, generateKey, type MemoryHub, peerIdFromKey } from '@pnet/network'
import { pseudoRandomChunks, waitFor } from '@pnet/network/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InvalidDestinationError, NoRouteError, RelayRefusedError } from '../src/errors.js'
import { lengthPrefixed, readFrame } from '../src/frame-io.js'
import { MAX_RELAY_REASON_BYTES } from '../src/limits.js'
import { RELAY_CHANNEL } from '../src/protocols.js'
import { decodeRelayOpen, encodeRelayOpen } from '../src/relay-codec.js'
import { link, type TestNode, testNode } from './helpers.js'

let hub: MemoryHub
const open: TestNode[] = []
async function node(options: Parameters<typeof testNode>[1] = {}): Promise<TestNode> {
  const n = await testNode(hub, options)
  open.push(n)
  return n
}
async function line(n: number, options: Parameters<typeof testNode>[1] = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await node(options))
  for (let i = 0; i + 1 < n; i++) await link(nodes[i]!, nodes[i + 1]!)
  await waitFor(() => nodes[0]!.router.reachable().length === n - 1, 'the line to converge')
  return nodes
}

/** the far end's record of one echo stream */
interface Seen {
  peer: string
  sha: string
  /** sha256 of the bytes delivered so far */
  prefixSha: string
  bytes: number
}

function echo(n: TestNode, seen: Seen[] = []): Seen[] {
  n.channels.handle('/test/echo', async (stream, ctx) => {
    const hash = createHash('sha256')
    let bytes = 0
    const record: Seen = { peer: ctx.remotePeer.toString(), sha: '', prefixSha: '', bytes: 0 }
    seen.push(record)
    await stream.sink(
      (async function* () {
        for await (const chunk of stream.source) {
          hash.update(chunk)
          bytes += chunk.byteLength
          record.bytes = bytes
          // what was delivered so far, kept even when the stream later fails (sha stays '' then)
          record.prefixSha = hash.copy().digest('hex')
          yield chunk
        }
        record.sha = hash.digest('hex')
      })(),
    )
  })
  return seen
}

async function roundTrip(
  stream: { source: AsyncIterable<Uint8Array>; sink(s: Iterable<Uint8Array>): Promise<void> },
  total: number,
): Promise<string> {
  const hash = createHash('sha256')
  const [, digest] = await Promise.all([
    stream.sink(pseudoRandomChunks(total, 64 * 1024, 7)),
    (async () => {
      for await (const chunk of stream.source) hash.update(chunk)
      return hash.digest('hex')
    })(),
  ])
  return digest
}

function sha(total: number): string {
  const hash = createHash('sha256')
  for (const c of pseudoRandomChunks(total, 64 * 1024, 7)) hash.update(c)
  return hash.digest('hex')
}

beforeEach(() => {
  hub = createMemoryHub()
})
afterEach(async () => {
  await Promise.all(open.splice(0).map(n => n.close()))
})

describe('router: streams', () => {
  it('opens a channel on a neighbour directly and on a peer three hops away through relays, end to end', async () => {
    const [a, b, , d] = await line(4)
    const atB = echo(b!)
    const atD = echo(d!)
    const direct = await a!.router.openStream(b!.peerId, '/test/echo')
    expect([direct.relayed, direct.hops]).toEqual([false, 1])
    const relayed = await a!.router.openStream(d!.peerId, '/test/echo')
    expect([relayed.relayed, relayed.hops, relayed.version]).toEqual([true, 3, 1])
    // the far peer ID is authenticated on both ends, as on a direct connection
    expect(relayed.stream.remotePeer.toString()).toBe(d!.peerId.toString())
    const total = 4 * 1024 * 1024
    expect(await roundTrip(relayed.stream, total)).toBe(sha(total))
    expect(await roundTrip(direct.stream, 1024)).toBe(sha(1024))
    expect(atD).toMatchObject([{ peer: a!.peerId.toString(), bytes: total, sha: sha(total) }])
    expect(atB).toHaveLength(1)
    // relays carry opaque bytes: the streams they relay are not channel streams of theirs
    expect(b!.router.stats().relay.forwarded).toBe(1)
    expect(d!.router.stats().relay.terminated).toBe(1)
  })

  it('reuses one relayed connection for later streams, in both directions', async () => {
    const [a, , c] = await line(3)
    echo(c!)
    echo(a!)
    const first = await a!.router.connect(c!.peerId)
    expect(first.transport).toBe('relay')
    expect(first.remotePeer.toString()).toBe(c!.peerId.toString())
    for (let i = 0; i < 3; i++) {
      const { stream } = await a!.router.openStream(c!.peerId, '/test/echo')
      expect(await roundTrip(stream, 1000)).toBe(sha(1000))
    }
    // c reaches a over the connection a opened
    const back = await c!.router.openStream(a!.peerId, '/test/echo')
    expect(await roundTrip(back.stream, 1000)).toBe(sha(1000))
    expect(await a!.router.connect(c!.peerId)).toBe(first)
    expect(a!.router.stats().relay.dialed).toBe(1)
    expect(c!.router.stats().relay.dialed).toBe(0)
  })

  it('keeps backpressure end to end: a reader that stops reading stalls the writer three hops away', async () => {
    const [a, , , d] = await line(4)
    let release!: () => void
    const gate = new Promise<void>(resolve => {
      release = resolve
    })
    let received = 0
    d!.channels.handle('/test/slow', async stream => {
      await gate
      for await (const chunk of stream.source) received += chunk.byteLength
    })
    const { stream } = await a!.router.openStream(d!.peerId, '/test/slow')
    const total = 96 * 1024 * 1024
    let pulled = 0
    const writing = stream.sink(
      (function* () {
        for (const chunk of pseudoRandomChunks(total, 64 * 1024, 3)) {
          pulled += chunk.byteLength
          yield chunk
        }
      })(),
    )
    await new Promise(resolve => setTimeout(resolve, 1_500))
    const stalledAt = pulled
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(pulled).toBe(stalledAt)
    expect(stalledAt).toBeLessThan(total / 2)
    release()
    await writing
    await waitFor(() => received === total, 'every byte to arrive', 60_000)
  }, 120_000)

  it('a relay that flips a bit makes the stream fail: Noise detects it and nothing forged is delivered', async () => {
    const [a, evil, c] = [await node(), await node(), await node()]
    await link(a!, evil!)
    await link(evil!, c!)
    await waitFor(() => a!.router.route(c!.peerId) !== undefined, 'a to learn c')
    const atC = echo(c!)
    let flipped = false
    evil!.channels.unhandle(RELAY_CHANNEL)
    evil!.channels.handle(RELAY_CHANNEL, async stream => {
      const { frame, rest } = await readFrame(stream.source, 512, 'relay OPEN')
      const req = decodeRelayOpen(frame!)
      const conn = evil!.network.connections(req.destination.peerId)[0]!
      const down = await openChannel(await conn.newStream(), RELAY_CHANNEL, {
        localPeer: evil!.peerId,
        earlyData: lengthPrefixed(encodeRelayOpen({ ...req, hopLimit: req.hopLimit - 1 })),
      })
      let passed = 0
      const tamper = async function* () {
        for await (const chunk of rest) {
          passed += chunk.byteLength
          if (!flipped && passed > 256 * 1024) {
            const copy = chunk.slice()
            copy[copy.byteLength >> 1]! ^= 0x10
            flipped = true
            yield copy
          } else yield chunk
        }
      }
      await Promise.all([down.stream.sink(tamper()), stream.sink(down.stream.source)]).catch(() => {})
    })
    const { stream } = await a!.router.openStream(c!.peerId, '/test/echo')
    const total = 2 * 1024 * 1024
    const failure = await roundTrip(stream, total).then(
      () => undefined,
      (err: unknown) => err,
    )
    // the end-to-end session at c rejects the forged frame and the relayed connection breaks: a's stream says so
    expect(failure).toBeInstanceOf(Error)
    const chain: string[] = []
    for (let e = failure as Error | undefined; e !== undefined; e = e.cause as Error | undefined) chain.push(e.name)
    expect(chain[0]).toBe('ChannelClosedError')
    expect(chain).toContain('RelayBrokenError')
    expect(flipped).toBe(true)
    // what reached c is an untouched prefix of what a sent
    const got = atC[0]!.bytes
    expect(got).toBeLessThan(total)
    const prefix = createHash('sha256')
    let left = got
    for (const chunk of pseudoRandomChunks(total, 64 * 1024, 7)) {
      if (left <= 0) break
      prefix.update(chunk.subarray(0, Math.min(left, chunk.byteLength)))
      left -= chunk.byteLength
    }
    expect(got).toBeGreaterThan(0)
    expect(atC[0]!.prefixSha).toBe(prefix.digest('hex'))
  })

  it('a stream crossing a link that dies fails promptly with a clear error; a new stream takes the new path', async () => {
    // a — b — c  and  a — d — e — c
    const [a, b, c, d, e] = [await node(), await node(), await node(), await node(), await node()]
    await link(a!, b!)
    await link(b!, c!)
    await link(a!, d!)
    await link(d!, e!)
    await link(e!, c!)
    echo(c!)
    await waitFor(() => a!.router.route(c!.peerId)?.hops === 2, 'a to route c over b')
    const { stream } = await a!.router.openStream(c!.peerId, '/test/echo')
    const reading = (async () => {
      for await (const _ of stream.source) {
        // nothing is written: the read waits
      }
    })()
    await new Promise(resolve => setTimeout(resolve, 50))
    const started = Date.now()
    hub.cut(b!.peerId, c!.peerId)
    await expect(reading).rejects.toThrow(/relayed connection to 12D3Koo\w+ via 12D3Koo\w+ broke/)
    expect(Date.now() - started).toBeLessThan(2_000)
    await waitFor(() => a!.router.route(c!.peerId)?.hops === 3, 'the new route')
    const next = await a!.router.openStream(c!.peerId, '/test/echo')
    expect(next.hops).toBe(3)
    expect(await roundTrip(next.stream, 1000)).toBe(sha(1000))
    expect(d!.router.stats().relay.forwarded).toBe(1)
  })

  it('closes a relayed connection idle for timers.relayedIdleTimeoutMs, freeing the relay', async () => {
    // long enough that a loaded machine finishes the round trip before the timer can fire
    const idleMs = 1_500
    const [a, b, c] = await line(3, { timers: { relayedIdleTimeoutMs: idleMs } })
    echo(c!)
    const { stream } = await a!.router.openStream(c!.peerId, '/test/echo')
    expect(await roundTrip(stream, 100)).toBe(sha(100))
    const idleSince = Date.now()
    expect(b!.router.stats().relay.active).toBe(1)
    await waitFor(() => b!.router.stats().relay.active === 0, 'the idle relayed connection to close', 10_000)
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(idleMs - 200)
    // whichever end's idle timer fires first closes the connection; the other end hears of it through the relay
    await waitFor(() => a!.router.stats().relay.connections === 0, 'the origin to drop its relayed connection', 5_000)
  })

  it('gives up on a relay that never answers after timers.relayHandshakeTimeoutMs', async () => {
    const [a, mute, c] = [await node({ timers: { relayHandshakeTimeoutMs: 500 } }), await node(), await node()]
    await link(a!, mute!)
    await link(mute!, c!)
    await waitFor(() => a!.router.route(c!.peerId) !== undefined, 'a to learn c')
    mute!.channels.unhandle(RELAY_CHANNEL)
    mute!.channels.handle(
      RELAY_CHANNEL,
      (_stream, ctx) => new Promise<void>(resolve => ctx.signal.addEventListener('abort', () => resolve())),
    )
    const started = Date.now()
    await expect(a!.router.connect(c!.peerId)).rejects.toThrow(/time|abort/i)
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it('refuses clearly: no route, ourselves, hop limit', async () => {
    const [a, , , d] = await line(4, { limits: { relayHopSlack: 0, maxRelayHops: 2 } })
    const stranger = peerIdFromKey(await generateKey())
    await expect(a!.router.openStream(stranger, '/x')).rejects.toThrow(NoRouteError)
    await expect(a!.router.openStream(a!.peerId, '/x')).rejects.toThrow(InvalidDestinationError)
    const err = await a!.router.connect(d!.peerId).catch(e => e)
    expect(err).toBeInstanceOf(RelayRefusedError)
    expect(err).toMatchObject({ reason: 'HOP_LIMIT' })
    expect(err.message).toMatch(/refused by 12D3Koo\w+ \(HOP_LIMIT\): hop limit reached/)
  })

  it("carries a relay's refusal whole to the origin: NEXT_HOP_FAILED quoting the next hop's long refusal", async () => {
    // a — b — c — d; c routes but relays for nobody, and says why at length: b refuses a's stream to d, quoting c
    const why =
      'relaying is switched off on this node while its uplink is being replaced; streams to the far side of it ' +
      'should go through the east gateway until the maintenance window ends, which the operators announce in the ' +
      'usual channel; ask them before turning it back on'
    const relayOff = {
      name: 'no-relay',
      authorize: ({ channel }: { channel: string }) => (channel === RELAY_CHANNEL ? deny(why) : allow()),
    }
    const [a, b, c, d] = [await node(), await node(), await node({ auth: relayOff }), await node()]
    await link(a!, b!)
    await link(b!, c!)
    await link(c!, d!)
    await waitFor(() => a!.router.route(d!.peerId) !== undefined, 'a route from a to d')
    const err = await a!.router.connect(d!.peerId).catch(e => e)
    expect(err).toBeInstanceOf(RelayRefusedError)
    expect(err).toMatchObject({ reason: 'NEXT_HOP_FAILED', refusedBy: b!.peerId.toString() })
    // the whole text, as b wrote it: longer than the old 256-byte cut, within the limit, no ellipsis
    expect(err.message).toContain(`could not open a relay stream to ${c!.peerId.toString()}`)
    expect(err.message).toContain(`refused access: ${why}`)
    expect(err.message.endsWith(why)).toBe(true)
    expect(new TextEncoder().encode(err.message).byteLength).toBeGreaterThan(256)
    expect(new TextEncoder().encode(err.message).byteLength).toBeLessThan(MAX_RELAY_REASON_BYTES)
  })

  it('refuses past limits.maxRelayedStreams, limits.maxRelayedStreamsPerPeer and limits.maxRelayedConnections', async () => {
    // a — b — c, b — d, b — e:  b relays for everyone
    const hubOptions = { limits: { maxRelayedStreams: 2, maxRelayedStreamsPerPeer: 1 } }
    const [a, b, c, d, e] = [
      await node(),
      await node(hubOptions),
      await node({ limits: { maxRelayedConnections: 1 } }),
      await node(),
      await node(),
    ]
    for (const x of [a, c, d, e]) await link(x!, b!)
    await waitFor(() => [a, c, d, e].every(x => x!.router.reachable().length === 4), 'convergence')
    await a!.router.connect(c!.peerId)
    // per peer: a already has its one relayed stream through b
    await expect(a!.router.connect(d!.peerId)).rejects.toMatchObject({
      reason: 'TOO_MANY_RELAYED',
      message: expect.stringMatching(/limits.maxRelayedStreamsPerPeer/),
    })
    // per destination: c takes one relayed connection
    await expect(e!.router.connect(c!.peerId)).rejects.toMatchObject({
      reason: 'TOO_MANY_CONNECTIONS',
      message: expect.stringMatching(/limits.maxRelayedConnections/),
    })
    await e!.router.connect(d!.peerId)
    // in total: b relays two streams now
    await expect(d!.router.connect(a!.peerId)).rejects.toMatchObject({
      reason: 'TOO_MANY_RELAYED',
      message: expect.stringMatching(/limits.maxRelayedStreams\)/),
    })
    expect(b!.router.stats().relay).toMatchObject({ active: 2, refused: { TOO_MANY_RELAYED: 2 } })
  })
})
