/**
 * A channel handler that throws is not silent: its caller gets an error naming the channel and the peer, and the
 * node logs it at warn by default (no logger given).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ChannelClosedError } from '@pnet/channel'
import { createMemoryHub, generateKey, memory } from '@pnet/network'
import { readAll } from '@pnet/network/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type Node, silentLogger } from '../src/index.js'

const nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(n => n.stop({ drainMs: 200 }).catch(() => {})))
})

describe('a handler that throws', () => {
  it("fails the caller's read with an error naming the channel and the remote peer", async () => {
    const hub = createMemoryHub()
    const make = async (name: string, join: string[]) => {
      const n = await createNode({
        key: await generateKey(),
        transports: [memory({ hub })],
        listen: [`/memory/${name}`],
        join,
        logger: silentLogger,
      })
      nodes.push(n)
      await n.start()
      return n
    }
    const a = await make('he-a', [])
    const b = await make('he-b', ['/memory/he-a'])
    a.handle('echo', async stream => {
      for await (const _ of stream.source) throw new Error('boom')
    })
    const { stream } = await b.openStream(a.id, 'echo')
    await stream.sink([new TextEncoder().encode('hi')])
    const err = await readAll(stream).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ChannelClosedError)
    expect((err as ChannelClosedError).channel).toBe('/pnet/echo')
    expect((err as ChannelClosedError).peer).toBe(a.id.toString())
    expect((err as Error).message).toContain('/pnet/echo')
    expect((err as Error).message).toContain(a.id.toString())
  })

  it('is logged at warn on stderr by a node given no logger', () => {
    const script = fileURLToPath(new URL('./fixtures/handler-crash.mjs', import.meta.url))
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status, r.stderr).toBe(0)
    const seen = JSON.parse(r.stdout.trim()) as { name: string; message: string; a: string }
    expect(seen.name).toBe('ChannelClosedError')
    expect(seen.message).toContain(`channel /pnet/echo on ${seen.a}`)
    const lines = r.stderr
      .split('\n')
      .filter(l => l.startsWith('{'))
      .map(l => JSON.parse(l) as Record<string, unknown>)
    const crash = lines.find(l => l.msg === 'channel handler threw; stream reset')
    expect(crash, r.stderr).toMatchObject({ level: 40, channel: '/pnet/echo', err: 'boom in the echo handler' })
  })
})
