/**
 * The router's share of the API every layer offers: waitForRoute, and short channel names (`echo` = `/pnet/echo`)
 * for streams and broadcasts, meeting full names on the other side.
 */

import { createMemoryHub, type MemoryHub } from '@pnet/network'
import { readAll, waitFor } from '@pnet/network/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NoRouteError, RouterStoppedError } from '../src/errors.js'
import { link, type TestNode, testNode } from './helpers.js'

let hub: MemoryHub
const open: TestNode[] = []
async function node(): Promise<TestNode> {
  const n = await testNode(hub)
  open.push(n)
  return n
}
beforeEach(() => {
  hub = createMemoryHub()
})
afterEach(async () => {
  await Promise.all(open.splice(0).map(n => n.close()))
})

describe('router API', () => {
  it('waitForRoute resolves when the route is learned, at once when it is known', async () => {
    const [a, b, c] = [await node(), await node(), await node()]
    await link(a!, b!)
    const waiting = a!.router.waitForRoute(c!.peerId, { timeoutMs: 10_000 })
    await link(b!, c!)
    const route = await waiting
    expect(route.destination.equals(c!.peerId)).toBe(true)
    expect(route.hops).toBe(2)
    expect((await a!.router.waitForRoute(c!.peerId)).nextHop.equals(b!.peerId)).toBe(true)
  })

  it('waitForRoute gives up: NoRouteError after timeoutMs, AbortError on signal, RouterStoppedError on stop', async () => {
    const [a, lonely] = [await node(), await node()]
    const started = Date.now()
    await expect(a!.router.waitForRoute(lonely!.peerId, { timeoutMs: 100 })).rejects.toThrow(NoRouteError)
    expect(Date.now() - started).toBeLessThan(2_000)
    await expect(a!.router.waitForRoute(lonely!.peerId, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
      name: 'AbortError',
      code: 'ERR_ABORTED',
    })
    const pending = a!.router.waitForRoute(lonely!.peerId)
    await a!.router.stop()
    await expect(pending).rejects.toThrow(RouterStoppedError)
    expect(a!.router.listenerCount('route')).toBe(0)
  })

  it('openStream and broadcasts take short channel names, meeting full names on the other side', async () => {
    const [a, b, c] = [await node(), await node(), await node()]
    await link(a!, b!)
    await link(b!, c!)
    await waitFor(() => a!.router.route(c!.peerId) !== undefined, 'a route from a to c')
    c!.channels.handle('/pnet/echo', async stream => {
      await stream.sink(stream.source)
    })
    const { stream, protocol, relayed } = await a!.router.openStream(c!.peerId, 'echo')
    expect([protocol, relayed]).toEqual(['/pnet/echo', true])
    await stream.sink([new TextEncoder().encode('hi')])
    expect(new TextDecoder().decode(await readAll(stream))).toBe('hi')

    const got: string[] = []
    for (const n of [b!, c!]) n.router.handleBroadcast('/pnet/news', () => void got.push(n.name))
    const report = await a!.router.broadcast('news', new TextEncoder().encode('x'))
    expect(report.delivered.length).toBe(2)
    expect(got.sort()).toEqual([b!.name, c!.name].sort())
    expect(c!.router.unhandleBroadcast('news')).toBe(true)
  })
})
