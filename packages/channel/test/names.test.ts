/**
 * Short channel names mean the same channel on every entry point: `echo` is `/pnet/echo` for the registry,
 * openChannel and the RPC helpers, as it is for the router and the node.
 */
import { readAll } from '@pnet/network/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { call, callStream, cast, channelId, openChannel, rpcHandler } from '../src/index.js'
import { adapters, closeAll, dec, enc, pair } from './helpers.js'

afterEach(closeAll)
const memory = adapters.find(a => a.name === 'memory')!

describe('short channel names', () => {
  it('channelId makes a protocol ID of a short name and keeps a protocol ID', () => {
    expect(channelId('echo')).toBe('/pnet/echo')
    expect(channelId('/pnet/echo')).toBe('/pnet/echo')
    expect(channelId('/ipfs/ping/1.0.0')).toBe('/ipfs/ping/1.0.0')
  })

  it('handle, openChannel, call, cast and callStream take them', async () => {
    const p = await pair(memory)
    p.registry.handle('echo', async stream => {
      await stream.sink(stream.source)
    })
    expect(p.registry.channels()).toContain('/pnet/echo')
    const seen: unknown[] = []
    p.registry.handle(
      'kv',
      rpcHandler<{ n: number }, number>({
        call: ({ n }) => n * 2,
        cast: m => {
          seen.push(m)
        },
        async *stream({ n }) {
          for (let i = 0; i < n; i++) yield i
        },
      }),
    )
    // a short name on one side meets the full name on the other
    const long = await openChannel(await p.connection.newStream(), '/pnet/echo')
    const short = await openChannel(await p.connection.newStream(), 'echo')
    expect(short.protocol).toBe('/pnet/echo')
    for (const ch of [long, short]) {
      await ch.stream.sink([enc.encode('hi')])
      expect(dec.decode(await readAll(ch.stream))).toBe('hi')
    }
    expect(await call<number>(p.connection, 'kv', { n: 21 })).toBe(42)
    await cast(p.connection, 'kv', { n: 1 })
    const items: number[] = []
    for await (const i of callStream<number>(p.connection, 'kv', { n: 3 })) items.push(i)
    expect(items).toEqual([0, 1, 2])
    expect(p.registry.unhandle('kv')).toBe(true)
    expect(p.registry.channels()).not.toContain('/pnet/kv')
  })
})
