/**
 * What the node offers beyond composing its layers' objects: route, waitForRoute, callStream and
 * unhandleBroadcast, with the short channel names every layer takes.
 */
import { rpcHandler } from '@pnet/channel'
import { createMemoryHub, generateKey, type MemoryHub, memory } from '@pnet/network'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type Node, silentLogger } from '../src/index.js'

const nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(n => n.stop({ drainMs: 200 }).catch(() => {})))
})

async function memNode(hub: MemoryHub, name: string, join: string[] = []): Promise<Node> {
  const node = await createNode({
    key: await generateKey(),
    transports: [memory({ hub })],
    listen: [`/memory/${name}`],
    join,
    logger: silentLogger,
  })
  nodes.push(node)
  await node.start()
  return node
}

describe('node API', () => {
  it('route and waitForRoute: the route to a node that joins later', async () => {
    const hub = createMemoryHub()
    const a = await memNode(hub, 'api-a')
    const b = await memNode(hub, 'api-b', ['/memory/api-a'])
    const far = await createNode({ key: await generateKey(), transports: [memory({ hub })], logger: silentLogger })
    nodes.push(far)
    expect(a.route(far.id)).toBeUndefined()
    const waiting = a.waitForRoute(far.id, { timeoutMs: 10_000 })
    await far.connect('/memory/api-b')
    const route = await waiting
    expect(route.hops).toBe(2)
    expect(route.nextHop.equals(b.id)).toBe(true)
    expect(a.route(far.id)?.hops).toBe(2)
    const stranger = await createNode({ key: await generateKey(), transports: [memory({ hub })], logger: silentLogger })
    nodes.push(stranger)
    await expect(a.waitForRoute(stranger.id, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_NO_ROUTE' })
  })

  it('callStream streams replies across hops with a short channel name; unhandleBroadcast stops deliveries', async () => {
    const hub = createMemoryHub()
    const a = await memNode(hub, 'cs-a')
    await memNode(hub, 'cs-b', ['/memory/cs-a'])
    const c = await memNode(hub, 'cs-c', ['/memory/cs-b'])
    await a.waitForRoute(c.id, { timeoutMs: 10_000 })
    c.handle(
      'count',
      rpcHandler<{ n: number }, number>({
        async *stream({ n }) {
          for (let i = 1; i <= n; i++) yield i
        },
      }),
    )
    const got: number[] = []
    for await (const i of a.callStream<number>(c.id, 'count', { n: 4 })) got.push(i)
    expect(got).toEqual([1, 2, 3, 4])

    c.handleBroadcast('news', () => {})
    expect((await a.broadcast('news', new Uint8Array(1), { targets: [c.id] })).delivered.length).toBe(1)
    expect(c.unhandleBroadcast('news')).toBe(true)
    const report = await a.broadcast('news', new Uint8Array(1), { targets: [c.id] })
    expect(report.failed).toMatchObject([{ code: 'NO_HANDLER' }])
  })
})
