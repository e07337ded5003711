import { openChannel } from '@pnet/channel'
import { createMemoryHub, generateKey, type MemoryHub, peerIdFromKey } from '@pnet/network'
import { waitFor } from '@pnet/network/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BroadcastMessage } from '../src/broadcast.js'
import { decodeReport, encodeBroadcast } from '../src/broadcast-codec.js'
import { RouterLimitError } from '../src/errors.js'
import { lengthPrefixed, readFrame } from '../src/frame-io.js'
import { peerKeyOf } from '../src/peer-key.js'
import { BROADCAST_CHANNEL } from '../src/protocols.js'
import { link, type TestNode, testNode } from './helpers.js'

let hub: MemoryHub
const open: TestNode[] = []
async function node(options: Parameters<typeof testNode>[1] = {}): Promise<TestNode> {
  const n = await testNode(hub, options)
  open.push(n)
  return n
}

/** a binary tree: node i's children are 2i+1 and 2i+2 */
async function tree(n: number, options: Parameters<typeof testNode>[1] = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await node(options))
  for (let i = 1; i < n; i++) await link(nodes[Math.floor((i - 1) / 2)]!, nodes[i]!)
  await waitFor(() => nodes.every(x => x.router.reachable().length === n - 1), 'the tree to converge')
  return nodes
}

beforeEach(() => {
  hub = createMemoryHub()
})
afterEach(async () => {
  await Promise.all(open.splice(0).map(n => n.close()))
})

describe('router: broadcast', () => {
  it('reaches every node along the tree, one copy per child, and accounts for every target', async () => {
    const nodes = await tree(15)
    const got = new Map<string, BroadcastMessage>()
    for (const n of nodes) n.router.handleBroadcast('/ops/run', msg => void got.set(n.peerId.toString(), msg))
    const payload = new TextEncoder().encode('uptime')
    const report = await nodes[0]!.router.broadcast('/ops/run', payload)
    expect(report.failed).toEqual([])
    expect(report.delivered.map(String).sort()).toEqual(
      nodes
        .slice(1)
        .map(n => n.peerId.toString())
        .sort(),
    )
    expect(got.size).toBe(14)
    for (const [i, n] of nodes.entries()) {
      if (i === 0) continue
      const msg = got.get(n.peerId.toString())!
      expect(msg).toMatchObject({ id: report.id, channel: '/ops/run', hops: Math.floor(Math.log2(i + 1)) })
      expect(msg.origin.toString()).toBe(nodes[0]!.peerId.toString())
      expect(new TextDecoder().decode(msg.payload)).toBe('uptime')
      // one copy per child that has targets below it: inner nodes 2 each, leaves none
      expect(n.router.stats().broadcast.forwarded).toBe(i < 7 ? 2 : 0)
    }
    expect(nodes[0]!.router.stats().broadcast.forwarded).toBe(2)
  })

  it('from a leaf, with a target set: only the subtrees that hold targets get a copy', async () => {
    const nodes = await tree(15)
    for (const n of nodes) n.router.handleBroadcast('c', () => {})
    // from leaf 7 (child of 3, grandchild of 1) to leaves 8 and 14 and to itself
    const targets = [nodes[8]!, nodes[14]!, nodes[7]!].map(n => n.peerId)
    const report = await nodes[7]!.router.broadcast('c', new Uint8Array(0), { targets })
    expect(report.delivered.map(String).sort()).toEqual(targets.map(String).sort())
    const forwarded = nodes.map(n => n.router.stats().broadcast.forwarded)
    // 7→3; 3→8 and 3→1; 1→0; 0→2; 2→6; 6→14
    expect(forwarded.reduce((a, b) => a + b)).toBe(7)
    expect(forwarded[4]).toBe(0)
    expect(forwarded[5]).toBe(0)
  })

  it('names why each target was not reached: no route, no handler, handler failure, timeout', async () => {
    const nodes = await tree(7)
    nodes[1]!.router.handleBroadcast('c', () => {})
    nodes[2]!.router.handleBroadcast('c', () => {
      throw new Error('disk full')
    })
    nodes[3]!.router.handleBroadcast('c', () => new Promise(() => {}))
    const stranger = peerIdFromKey(await generateKey())
    const targets = [nodes[1]!, nodes[2]!, nodes[3]!, nodes[4]!].map(n => n.peerId).concat(stranger)
    const report = await nodes[0]!.router.broadcast('c', new Uint8Array(1), { targets, timeoutMs: 1_500 })
    expect(report.delivered.map(String)).toEqual([nodes[1]!.peerId.toString()])
    const why = Object.fromEntries(report.failed.map(f => [f.peer.toString(), [f.code, f.reason]]))
    expect(why[nodes[2]!.peerId.toString()]).toEqual(['HANDLER_FAILED', 'disk full'])
    expect(why[nodes[3]!.peerId.toString()]?.[0]).toBe('TIMEOUT')
    // a short name means /pnet/<name>, as on every layer
    expect(why[nodes[4]!.peerId.toString()]).toEqual(['NO_HANDLER', 'no handler for broadcast channel /pnet/c'])
    expect(why[stranger.toString()]?.[0]).toBe('NO_ROUTE')
    expect(report.delivered.length + report.failed.length).toBe(targets.length)
  })

  it('delivers a message ID once, however many copies arrive', async () => {
    const [a, b] = [await node(), await node()]
    await link(a!, b!)
    await waitFor(() => a!.router.route(b!.peerId) !== undefined, 'a to learn b')
    let runs = 0
    b!.router.handleBroadcast('c', () => {
      runs++
    })
    const frame = encodeBroadcast({
      id: new Uint8Array(16).fill(3),
      origin: peerKeyOf(a!.peerId),
      channel: '/pnet/c', // the wire carries the full name: handleBroadcast('c') serves /pnet/c
      hopLimit: 8,
      hops: 1,
      deadlineMs: 5_000,
      targets: [peerKeyOf(b!.peerId)],
      payload: new Uint8Array(0),
    })
    const conn = a!.network.connections(b!.peerId)[0]!
    for (let i = 0; i < 3; i++) {
      const { stream } = await openChannel(await conn.newStream(), BROADCAST_CHANNEL, {
        localPeer: a!.peerId,
        earlyData: lengthPrefixed(frame),
      })
      const { frame: report } = await readFrame(stream.source, 1024, 'report')
      expect(decodeReport(report!, 1)).toEqual([{ index: 0, outcome: 'DELIVERED', reason: '' }])
      await stream.close()
    }
    expect(runs).toBe(1)
    expect(b!.router.stats().broadcast).toMatchObject({ received: 3, delivered: 1, duplicates: 2 })
  })

  it('remembers at most limits.broadcastSeenCacheSize IDs: an ID pushed out is delivered again', async () => {
    const [a, b] = [await node(), await node({ limits: { broadcastSeenCacheSize: 2 } })]
    await link(a!, b!)
    await waitFor(() => a!.router.route(b!.peerId) !== undefined, 'a to learn b')
    let runs = 0
    b!.router.handleBroadcast('c', () => {
      runs++
    })
    const conn = a!.network.connections(b!.peerId)[0]!
    const send = async (id: number) => {
      const frame = encodeBroadcast({
        id: new Uint8Array(16).fill(id),
        origin: peerKeyOf(a!.peerId),
        channel: '/pnet/c',
        hopLimit: 8,
        hops: 1,
        deadlineMs: 5_000,
        targets: [peerKeyOf(b!.peerId)],
        payload: new Uint8Array(0),
      })
      const { stream } = await openChannel(await conn.newStream(), BROADCAST_CHANNEL, {
        localPeer: a!.peerId,
        earlyData: lengthPrefixed(frame),
      })
      await readFrame(stream.source, 1024, 'report')
      await stream.close()
    }
    for (const id of [1, 2, 1]) await send(id)
    expect(runs).toBe(2)
    for (const id of [3, 1]) await send(id)
    expect(runs).toBe(4)
  })

  it('enforces limits.maxBroadcastBytes, limits.maxBroadcastTargets and limits.maxConcurrentBroadcasts', async () => {
    const a = await node({ limits: { maxBroadcastBytes: 16, maxBroadcastTargets: 1 } })
    const b = await node({ limits: { maxConcurrentBroadcasts: 1 } })
    const c = await node()
    await link(a, b)
    await link(b, c)
    await waitFor(() => a.router.reachable().length === 2, 'convergence')
    await expect(a.router.broadcast('c', new Uint8Array(17), { targets: [b.peerId] })).rejects.toThrow(RouterLimitError)
    await expect(a.router.broadcast('c', new Uint8Array(1))).rejects.toThrow(/limits.maxBroadcastTargets/)
    let release!: () => void
    b.router.handleBroadcast('c', () => new Promise<void>(resolve => (release = resolve)))
    const first = a.router.broadcast('c', new Uint8Array(1), { targets: [b.peerId] })
    await waitFor(() => release !== undefined, 'the first broadcast to reach b')
    const second = await a.router.broadcast('c', new Uint8Array(1), { targets: [b.peerId] })
    expect(second.failed).toMatchObject([{ code: 'REFUSED' }])
    release()
    expect((await first).delivered).toHaveLength(1)
  })

  it("streams every target's replies back up the tree to the origin, in order, before its outcome", async () => {
    const nodes = await tree(15)
    for (const [i, n] of nodes.entries()) {
      n.router.handleBroadcast('/ops/run', async msg => {
        for (let k = 0; k < 3; k++) await msg.reply(new TextEncoder().encode(`${i}:${k}`))
      })
    }
    const got = new Map<string, string[]>()
    const report = await nodes[14]!.router.broadcast('/ops/run', new Uint8Array(0), {
      onReply: (from, payload) => {
        const list = got.get(from.toString()) ?? []
        list.push(new TextDecoder().decode(payload))
        got.set(from.toString(), list)
      },
    })
    expect(report.failed).toEqual([])
    expect(got.size).toBe(14)
    for (const [i, n] of nodes.entries()) {
      if (i === 14) continue
      expect(got.get(n.peerId.toString())).toEqual([`${i}:0`, `${i}:1`, `${i}:2`])
    }
    // each reply is counted once where it was sent and once at every node it reached on the way up: it crossed
    // each link of its path once
    const replies = nodes.map(n => n.router.stats().broadcast.replies).reduce((a, b) => a + b)
    const hops = nodes.slice(0, 14).map((_, i) => pathLength(i, 14))
    expect(replies).toBe(3 * (14 + hops.reduce((a, b) => a + b, 0)))
  })

  it("holds a handler's replies back while the origin does not take them (backpressure across hops)", async () => {
    const nodes = await tree(3)
    let sent = 0
    const chunk = new Uint8Array(32 * 1024)
    nodes[1]!.router.handleBroadcast('bulk', async msg => {
      for (let k = 0; k < 160; k++) {
        await msg.reply(chunk)
        sent++
      }
    })
    let release!: () => void
    const gate = new Promise<void>(resolve => (release = resolve))
    let received = 0
    const done = nodes[2]!.router.broadcast('bulk', new Uint8Array(0), {
      targets: [nodes[1]!.peerId],
      onReply: async () => {
        received++
        if (received === 1) await gate
      },
    })
    await waitFor(() => sent > 0, 'the first reply')
    await new Promise(r => setTimeout(r, 500))
    // all 5 MiB would be sent by now without backpressure; what is held is bounded by the reply queues
    // (limits.broadcastReplyQueueBytes at each hop) and the stream windows
    expect(sent).toBeLessThan(80)
    release()
    const report = await done
    expect(report.delivered).toHaveLength(1)
    expect(sent).toBe(160)
    expect(received).toBe(160)
  })

  it('refuses replies over limits.maxBroadcastReplyBytes and replies after the handler returned', async () => {
    const nodes = await tree(3, { limits: { maxBroadcastReplyBytes: 8 } })
    let late: BroadcastMessage | undefined
    nodes[1]!.router.handleBroadcast('big', msg => msg.reply(new Uint8Array(9)))
    nodes[2]!.router.handleBroadcast('late', msg => {
      late = msg
    })
    const big = await nodes[0]!.router.broadcast('big', new Uint8Array(0), { targets: [nodes[1]!.peerId] })
    expect(big.failed).toMatchObject([{ code: 'HANDLER_FAILED', reason: /maxBroadcastReplyBytes|over 8/ }])
    const report = await nodes[0]!.router.broadcast('late', new Uint8Array(0), { targets: [nodes[2]!.peerId] })
    expect(report.delivered).toHaveLength(1)
    await expect(late!.reply(new Uint8Array(1))).rejects.toThrow(/already answered/)
  })

  it('tells a running handler when its way back to the origin is gone (a relay on the path died)', async () => {
    const nodes = await tree(7)
    let seen: BroadcastMessage | undefined
    nodes[5]!.router.handleBroadcast('long', msg => {
      seen = msg
      return new Promise<void>(resolve => msg.signal.addEventListener('abort', () => resolve()))
    })
    // 5 hangs below 2: the broadcast from 0 crosses 2; when 2 goes, 5 hears it at once (not at the deadline)
    const report = nodes[0]!.router.broadcast('long', new Uint8Array(0), {
      targets: [nodes[5]!.peerId],
      timeoutMs: 60_000,
    })
    await waitFor(() => seen !== undefined, 'the broadcast to reach node 5')
    expect(seen!.signal.aborted).toBe(false)
    const started = Date.now()
    await nodes[2]!.close()
    await waitFor(() => seen!.signal.aborted, 'node 5 to learn that its parent is gone', 10_000)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect((await report).failed).toMatchObject([{ code: 'LINK_FAILED' }])
  })
})

/** links between i and j in the binary tree where node k's parent is (k-1)/2 */
function pathLength(i: number, j: number): number {
  const depth = (k: number): number => Math.floor(Math.log2(k + 1))
  let [a, b, n] = [i, j, 0]
  while (a !== b) {
    if (depth(a) >= depth(b)) a = Math.floor((a - 1) / 2)
    else b = Math.floor((b - 1) / 2)
    n++
  }
  return n
}
