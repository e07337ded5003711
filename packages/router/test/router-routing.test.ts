import { presharedKeyAuth, presharedKeyCredential } from '@pnet/channel'
import { createMemoryHub, type MemoryHub } from '@pnet/network'
import { recordingLogger, waitFor } from '@pnet/network/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MSG_UPDATE } from '../src/control-codec.js'
import { RouterStoppedError } from '../src/errors.js'
import { lengthPrefixed } from '../src/frame-io.js'
import { peerKeyFromBytes } from '../src/peer-key.js'
import type { RouteChange } from '../src/router.js'
import { fakeNeighbour, fakePeerBytes, link, type TestNode, testNode } from './helpers.js'

let hub: MemoryHub
const open: TestNode[] = []
async function node(options: Parameters<typeof testNode>[1] = {}): Promise<TestNode> {
  const n = await testNode(hub, options)
  open.push(n)
  return n
}

beforeEach(() => {
  hub = createMemoryHub()
})
afterEach(async () => {
  await Promise.all(open.splice(0).map(n => n.close()))
})

describe('router: routes', () => {
  it('learns every node of a line with next hops, hops and metrics, and reports changes as events', async () => {
    const [a, b, c, d] = [await node(), await node(), await node(), await node()]
    const events: RouteChange[] = []
    a!.router.on('route', e => events.push(e))
    const ups: string[] = []
    a!.router.on('neighbour:up', p => ups.push(p.toString()))
    await link(a!, b!)
    await link(b!, c!)
    await link(c!, d!)
    await waitFor(() => a!.router.reachable().length === 3, 'a to learn the line')
    expect(a!.router.nextHop(d!.peerId)?.toString()).toBe(b!.peerId.toString())
    expect(a!.router.route(d!.peerId)).toMatchObject({ hops: 3, metric: 3 })
    expect(a!.router.route(b!.peerId)).toMatchObject({ hops: 1, metric: 1 })
    const routes = a!.router.routes()
    expect(routes.map(r => [r.destination.toString(), r.hops]).sort()).toEqual(
      [
        [b!.peerId.toString(), 1],
        [c!.peerId.toString(), 2],
        [d!.peerId.toString(), 3],
      ].sort(),
    )
    for (const r of routes) {
      expect(r.age).toBeGreaterThanOrEqual(0)
      expect(r.confirmedAgo).toBeGreaterThanOrEqual(0)
    }
    expect(ups).toEqual([b!.peerId.toString()])
    expect(a!.router.neighbours().map(String)).toEqual([b!.peerId.toString()])
    const firstSeen = new Map<string, RouteChange>()
    for (const e of events) if (!firstSeen.has(e.destination.toString())) firstSeen.set(e.destination.toString(), e)
    expect([...firstSeen.values()].every(e => e.previous === undefined && e.route !== undefined)).toBe(true)
    expect(firstSeen.size).toBe(3)
  })

  it('a dead link: routes re-converge on the other path, and the change is reported', async () => {
    // a — b — c  and  a — d — e — c
    const [a, b, c, d, e] = [await node(), await node(), await node(), await node(), await node()]
    await link(a!, b!)
    await link(b!, c!)
    await link(a!, d!)
    await link(d!, e!)
    await link(e!, c!)
    await waitFor(() => a!.router.route(c!.peerId)?.hops === 2, 'a to route c over b')
    const changes: RouteChange[] = []
    a!.router.on('route', ev => {
      if (ev.destination.equals(c!.peerId)) changes.push(ev)
    })
    hub.cut(b!.peerId, c!.peerId)
    const ms = await waitFor(() => a!.router.route(c!.peerId)?.hops === 3, 'a to route c over d and e')
    expect(ms).toBeLessThan(3_000)
    expect(a!.router.nextHop(c!.peerId)?.toString()).toBe(d!.peerId.toString())
    expect(changes.at(-1)?.route?.nextHop.toString()).toBe(d!.peerId.toString())
  })

  it('a node that leaves gracefully is retracted at once, long before any timeout', async () => {
    const [a, b, c] = [await node(), await node(), await node()]
    await link(a!, b!)
    await link(b!, c!)
    await waitFor(() => a!.router.route(c!.peerId) !== undefined, 'a to learn c')
    const lost = new Promise<RouteChange>(resolve =>
      a!.router.on('route', ev => {
        if (ev.destination.equals(c!.peerId) && ev.route === undefined) resolve(ev)
      }),
    )
    const started = Date.now()
    await c!.router.stop()
    const ev = await lost
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(ev.previous?.hops).toBe(2)
    // the network connection b—c is still there: the retraction, not a disconnect, removed the route
    expect(b!.network.connections(c!.peerId).length).toBe(1)
  })

  it('a black-holed link is noticed by the hellos: link down, connection aborted, routes withdrawn', async () => {
    const timers = { helloIntervalMs: 100, linkTimeoutMs: 400 }
    const [a, b, c] = [await node({ timers }), await node({ timers }), await node({ timers })]
    await link(a!, b!)
    await link(b!, c!)
    await waitFor(() => a!.router.route(c!.peerId) !== undefined, 'a to learn c')
    const down = new Promise<Error>(resolve => b!.router.on('neighbour:down', (_p, err) => resolve(err)))
    hub.blackhole(b!.peerId, c!.peerId, true)
    const err = await down
    expect(err.message).toMatch(/nothing received from .* for \d+ ms \(timers.linkTimeoutMs 400\)/)
    await waitFor(() => a!.router.route(c!.peerId) === undefined, 'a to lose c')
    await waitFor(() => b!.network.connections(c!.peerId).length === 0, 'the dead connection to be aborted')
  })

  it('a link saturated by bulk data stays up: control frames queued behind the data are late, not missing', async () => {
    // 250 kB/s and a stream window (256 KiB) queued on the link: a hello waits ~1 s behind the data, more than
    // linkTimeoutMs
    const timers = { helloIntervalMs: 100, linkTimeoutMs: 400 }
    const [a, b] = [await node({ timers }), await node({ timers })]
    await link(a!, b!)
    await waitFor(
      () => a!.router.route(b!.peerId) !== undefined && b!.router.route(a!.peerId) !== undefined,
      'the link',
    )
    for (const l of hub.links()) l.bandwidthBytesPerSec = 250e3
    const downs: string[] = []
    for (const n of [a!, b!]) n.router.on('neighbour:down', (_p, err) => downs.push(err.message))
    let received = 0
    b!.channels.handle('/test/sink', async stream => {
      for await (const chunk of stream.source) received += chunk.byteLength
    })
    const { stream } = await a!.router.openStream(b!.peerId, '/test/sink')
    const total = 1024 * 1024
    const chunk = new Uint8Array(64 * 1024)
    await stream.sink(
      (function* () {
        for (let sent = 0; sent < total; sent += chunk.byteLength) yield chunk
      })(),
    )
    await waitFor(() => received === total, 'every byte to arrive', 20_000)
    expect(downs).toEqual([])
    expect(a!.router.route(b!.peerId)).toBeDefined()
  })

  it('partition and heal: both sides keep their own routes, then converge to the whole graph', async () => {
    const [a, b, c, d] = [await node(), await node(), await node(), await node()]
    await link(a!, b!)
    await link(c!, d!)
    await link(b!, c!)
    await waitFor(() => a!.router.reachable().length === 3 && d!.router.reachable().length === 3, 'convergence')
    hub.cut(b!.peerId, c!.peerId)
    await waitFor(() => a!.router.reachable().length === 1 && d!.router.reachable().length === 1, 'the partition')
    expect(a!.router.route(b!.peerId)).toBeDefined()
    expect(d!.router.route(c!.peerId)).toBeDefined()
    await link(a!, d!)
    await waitFor(() => [a, b, c, d].every(n => n!.router.reachable().length === 3), 'the heal')
    await waitFor(() => b!.router.route(c!.peerId)?.hops === 3, 'b to reach c the long way round')
    expect(b!.router.route(c!.peerId)).toMatchObject({ hops: 3 })
    expect(b!.router.route(c!.peerId)?.nextHop.toString()).toBe(a!.peerId.toString())
  })

  it('with the rtt metric, prefers two fast links to one slow one', async () => {
    const timers = { helloIntervalMs: 50, linkTimeoutMs: 2_000 }
    const [a, b, c] = [
      await node({ metric: 'rtt', timers }),
      await node({ metric: 'rtt', timers }),
      await node({ metric: 'rtt', timers }),
    ]
    await link(a!, b!)
    await link(b!, c!)
    await link(a!, c!)
    for (const l of hub.links(a!.peerId)) if (l.listener === c!.peerId.toString()) l.latencyMs = 100
    await waitFor(() => a!.router.nextHop(c!.peerId)?.equals(b!.peerId) === true, 'a to route c over b', 10_000)
    const route = a!.router.route(c!.peerId)!
    expect(route.hops).toBe(2)
    // below the slow link's round trip alone (2 × 100 ms)
    expect(route.metric).toBeLessThan(200)
  })

  it('auth: with a fleet pre-shared key, members route through each other and outsiders get no link', async () => {
    const key = 'fleet secret, 16 bytes or more'
    const member = { auth: presharedKeyAuth({ key }), credentials: [presharedKeyCredential({ key })] }
    const [a, b, c] = [await node(member), await node(member), await node(member)]
    const log = recordingLogger()
    const outsider = await node({
      credentials: [presharedKeyCredential({ key: 'the wrong key, but long enough' })],
      logger: log,
    })
    await link(a!, b!)
    await link(b!, c!)
    let flaps = 0
    b!.router.on('neighbour:down', p => {
      if (p.equals(outsider!.peerId)) flaps++
    })
    await link(outsider!, b!)
    await waitFor(() => a!.router.route(c!.peerId)?.hops === 2, 'a to route c over b')
    // relayed streams across b work for members, with credentials presented on every hop
    c!.channels.handle('/test/hi', async stream => {
      await stream.sink([new TextEncoder().encode('hi')])
    })
    const { stream, relayed } = await a!.router.openStream(c!.peerId, '/test/hi')
    expect(relayed).toBe(true)
    for await (const _ of stream.source) break
    await new Promise(resolve => setTimeout(resolve, 1_500))
    expect(b!.router.neighbours().map(String)).not.toContain(outsider!.peerId.toString())
    expect(outsider!.router.reachable()).toEqual([])
    // refused for good, not retried in a loop
    // the outsider's control stream is refused for good (the key does not match: psk is mutual), never retried
    const refusals = log.records.filter(r => r.msg === 'router link could not be set up')
    expect(refusals).toHaveLength(1)
    expect(refusals[0]?.fields).toMatchObject({ permanent: true, reason: expect.stringMatching(/pre-shared key/) })
    // b's own attempts on the outsider back off instead of spinning
    expect(flaps).toBeLessThanOrEqual(4)
  })

  it('a connection to a peer without a router stays up and is not a routing link', async () => {
    const [a, plain] = [await node(), await node({ router: false })]
    await link(plain!, a!)
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(a!.router.neighbours()).toEqual([])
    expect(a!.network.connections(plain!.peerId).length).toBe(1)
  })

  it('cuts off a neighbour that sends a malformed control frame; the others carry on', async () => {
    const [a, b] = [await node(), await node()]
    await link(a!, b!)
    await waitFor(() => a!.router.route(b!.peerId) !== undefined, 'a to learn b')
    const bad = await fakeNeighbour(hub, a!)
    open.push(bad.node)
    await waitFor(() => a!.router.neighbours().length === 2, 'the fake neighbour to be up')
    bad.sendRaw(lengthPrefixed(Uint8Array.of(MSG_UPDATE, 0, 1, 0, 9, 0, 1, 0, 1, 0, 1)))
    await waitFor(() => a!.network.connections(bad.node.peerId).length === 0, 'the bad neighbour to be cut off')
    expect(a!.router.route(b!.peerId)).toBeDefined()
    expect(a!.network.connections(b!.peerId).length).toBe(1)
  })

  it('cuts off a neighbour that sends a control frame over limits.maxControlFrameBytes', async () => {
    const a = await node({ limits: { maxControlFrameBytes: 1024 } })
    const bad = await fakeNeighbour(hub, a)
    open.push(bad.node)
    await waitFor(() => a.router.neighbours().length === 1, 'the fake neighbour to be up')
    bad.sendRaw(lengthPrefixed(new Uint8Array(2048)))
    await waitFor(() => a.network.connections(bad.node.peerId).length === 0, 'the neighbour to be cut off')
  })

  it('drops the link to a neighbour that stops reading updates (limits.maxControlQueueBytes)', async () => {
    const a = await node({ limits: { maxControlQueueBytes: 64 * 1024 } })
    const feeder = await fakeNeighbour(hub, a)
    const stalled = await fakeNeighbour(hub, a, { read: false })
    open.push(feeder.node, stalled.node)
    await waitFor(() => a.router.neighbours().length === 2, 'both fake neighbours to be up')
    const down = new Promise<Error>(resolve => a.router.on('neighbour:down', (_p, err) => resolve(err)))
    // 12,000 destinations behind the feeder: ~540 kB of updates for the stalled neighbour, more than its window
    const entries = Array.from({ length: 12_000 }, (_, i) => ({
      dest: peerKeyFromBytes(fakePeerBytes(50_000 + i)),
      index: i + 1,
      gen: 1,
      seqno: 1,
      metric: 1,
      hops: 1,
    }))
    for (let i = 0; i < entries.length; i += 1000) {
      feeder.send({ type: 'update', fullStart: false, fullEnd: false, entries: entries.slice(i, i + 1000) })
    }
    const err = await down
    expect(err.message).toMatch(/is not reading router updates: \d+ bytes queued \(limits.maxControlQueueBytes\)/)
    // the feeder's routes are unaffected
    await waitFor(() => a.router.reachable().length === 12_000, 'every route from the feeder')
  })

  it('stop() is idempotent, and afterwards every operation says the router is stopped', async () => {
    const [a, b] = [await node(), await node()]
    await link(a!, b!)
    await waitFor(() => a!.router.route(b!.peerId) !== undefined, 'a to learn b')
    await a!.router.stop()
    await a!.router.stop()
    expect(a!.router.reachable()).toEqual([])
    await expect(a!.router.openStream(b!.peerId, '/x')).rejects.toThrow(RouterStoppedError)
    await expect(a!.router.broadcast('x', new Uint8Array(1))).rejects.toThrow(RouterStoppedError)
    await expect(a!.router.connect(b!.peerId)).rejects.toThrow(/the router is stopped/)
  })
})
