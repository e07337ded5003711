/**
 * Channels over every network adapter (tcp, memory, and quic / ws once @pnet/network exports them): each outcome,
 * metadata, versions, concurrency, signals, bulk bytes, and bad input on one connection that must not hurt the
 * connection or its other channels.
 */
import { createHash } from 'node:crypto'
import { pseudoRandomChunks, sha256Tap, waitFor } from '@pnet/network/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  allowPeers,
  ChannelHandshakeTimeoutError,
  NoSuchChannelError,
  OverloadedError,
  openChannel,
  UnauthorizedError,
  VersionUnsupportedError,
} from '../src/index.js'
import { MULTISTREAM_PROTOCOL, multistreamMessage } from '../src/multistream.js'
import { adapters, closeAll, dec, enc, pair } from './helpers.js'

afterAll(closeAll)

async function echoOnce(
  stream: { sink(s: Iterable<Uint8Array>): Promise<void>; source: AsyncIterable<Uint8Array> },
  text: string,
) {
  await stream.sink([enc.encode(text)])
  let out = ''
  for await (const c of stream.source) out += dec.decode(c)
  return out
}

describe.each(adapters)('channels over $name', adapter => {
  it('opens a channel: highest common version, metadata both ways, labels, the stream carries on', async () => {
    const p = await pair(adapter)
    const seen: Array<{ version: number; metadata: Record<string, string>; peer: string }> = []
    p.registry.handle(
      '/pnet/echo',
      async (stream, ctx) => {
        seen.push({ version: ctx.version, metadata: { ...ctx.metadata }, peer: ctx.remotePeer.toString() })
        await stream.sink(stream.source)
      },
      {
        versions: [1, 2, { min: 5, max: 6 }],
        metadata: ctx => ({ 'served-by': 'pnet', for: ctx.metadata.user ?? '' }),
      },
    )
    const stream = await p.connection.newStream()
    const ch = await openChannel(stream, '/pnet/echo', { versions: { min: 2, max: 5 }, metadata: { user: 'ada' } })
    expect(ch.version).toBe(5)
    expect(ch.metadata).toEqual({ 'served-by': 'pnet', for: 'ada' })
    expect(stream.labels).toMatchObject({ channel: '/pnet/echo', 'channel.version': '5' })
    expect(await echoOnce(ch.stream, 'hello')).toBe('hello')
    expect(seen).toEqual([{ version: 5, metadata: { user: 'ada' }, peer: p.client.peerId.toString() }])
  })

  it('NO_SUCH_CHANNEL, VERSION_UNSUPPORTED and UNAUTHORIZED name the channel and the peer', async () => {
    const p = await pair(adapter)
    const peer = p.server.peerId.toString()
    p.registry.handle('/pnet/v', async s => s.sink(s.source), { versions: [1, 2, 3, 7] })
    p.registry.handle('/pnet/private', async s => s.sink(s.source), { auth: allowPeers([p.server.peerId]) })

    const none = await openChannel(await p.connection.newStream(), '/pnet/nope').catch((e: any) => e)
    expect(none).toBeInstanceOf(NoSuchChannelError)
    expect(none).toMatchObject({ code: 'ERR_NO_SUCH_CHANNEL', channel: '/pnet/nope', peer })

    const ver = await openChannel(await p.connection.newStream(), '/pnet/v', { versions: { min: 4, max: 6 } }).catch(
      e => e,
    )
    expect(ver).toBeInstanceOf(VersionUnsupportedError)
    expect(ver.code).toBe('ERR_VERSION_UNSUPPORTED')
    expect(ver.supported).toEqual([
      { min: 1, max: 3 },
      { min: 7, max: 7 },
    ])
    expect(ver.message).toBe(`channel /pnet/v on ${peer} supports versions 1-3, 7, not 4-6`)

    const auth = await openChannel(await p.connection.newStream(), '/pnet/private').catch((e: any) => e)
    expect(auth).toBeInstanceOf(UnauthorizedError)
    expect(auth.message).toBe(
      `channel /pnet/private on ${peer} refused access: peer ${p.client.peerId} is not on the allowlist`,
    )
    // refusals are not protocol violations: the connection is fine
    expect(p.connection.status).toBe('open')
    expect(await echoOnce((await openChannel(await p.connection.newStream(), '/pnet/v')).stream, 'still')).toBe('still')
  })

  it('OVERLOADED past maxConcurrent; a slot frees when a handler returns', async () => {
    const p = await pair(adapter)
    let release!: () => void
    const gate = new Promise<void>(r => {
      release = r
    })
    p.registry.handle(
      '/pnet/one',
      async stream => {
        await gate
        await stream.sink([enc.encode('done')])
      },
      { maxConcurrent: 1 },
    )
    const first = await openChannel(await p.connection.newStream(), '/pnet/one')
    const second = await openChannel(await p.connection.newStream(), '/pnet/one').catch((e: any) => e)
    expect(second).toBeInstanceOf(OverloadedError)
    expect(second.message).toMatch(/is overloaded: 1 streams already open \(maxConcurrent\)/)
    release()
    let out = ''
    for await (const c of first.stream.source) out += dec.decode(c)
    expect(out).toBe('done')
    await waitFor(() => p.registry.stats().channels[0]!.active === 0, 'the slot to free')
    const third = await openChannel(await p.connection.newStream(), '/pnet/one')
    await third.stream.close()
    expect(p.registry.stats().channels[0]).toMatchObject({ accepted: 2, rejected: { OVERLOADED: 1 } })
  })

  it('HANDSHAKE_TIMEOUT when the callee never answers', async () => {
    const p = await pair(adapter)
    p.server.handle(() => {}) // takes the stream, says nothing
    const err = await openChannel(await p.connection.newStream(), '/pnet/x', { timeoutMs: 200 }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelHandshakeTimeoutError)
    expect(err.code).toBe('ERR_HANDSHAKE_TIMEOUT')
  })

  it('header-less channels (plain libp2p protocol IDs) with early data', async () => {
    const p = await pair(adapter)
    p.registry.handle('/ipfs/ping/1.0.0', async s => s.sink(s.source), { header: false })
    const ch = await openChannel(await p.connection.newStream(), ['/ipfs/ping/2.0.0', '/ipfs/ping/1.0.0'], {
      header: false,
      earlyData: enc.encode('early '),
    })
    expect(ch.protocol).toBe('/ipfs/ping/1.0.0')
    expect(await echoOnce(ch.stream, 'late')).toBe('early late')
  })

  it("the handler's signal fires when the caller resets, and when the connection closes", async () => {
    const p = await pair(adapter)
    const aborted: string[] = []
    p.registry.handle('/pnet/wait', async (stream, ctx) => {
      const reader = stream.source[Symbol.asyncIterator]()
      void reader.next().catch(() => {})
      await new Promise<void>(resolve => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
      aborted.push(String(ctx.signal.reason?.message ?? ctx.signal.reason))
    })
    const a = await openChannel(await p.connection.newStream(), '/pnet/wait')
    a.stream.abort(new Error('caller gave up'))
    await waitFor(() => aborted.length === 1, 'the handler to see the reset')
    await openChannel(await p.connection.newStream(), '/pnet/wait')
    await p.connection.close({ signal: AbortSignal.timeout(200) }).catch(() => {})
    await waitFor(() => aborted.length === 2, 'the handler to see the connection close')
  })

  it('carries bulk bytes unchanged (16 MiB, checksummed)', async () => {
    const p = await pair(adapter)
    p.registry.handle('/pnet/sha256', async stream => {
      const hash = createHash('sha256')
      let bytes = 0
      for await (const chunk of stream.source) {
        hash.update(chunk)
        bytes += chunk.byteLength
      }
      await stream.sink([enc.encode(`${bytes} ${hash.digest('hex')}`)])
    })
    const ch = await openChannel(await p.connection.newStream(), '/pnet/sha256')
    const tap = sha256Tap(pseudoRandomChunks(16 * 2 ** 20, 64 * 1024, 7))
    await ch.stream.sink(tap.source)
    let answer = ''
    for await (const c of ch.stream.source) answer += dec.decode(c)
    expect(answer).toBe(`${16 * 2 ** 20} ${tap.digest()}`)
  })

  it('bad input on one connection closes only the bad streams; good channels on it keep working', async () => {
    const p = await pair(adapter, { limits: { handshakeTimeoutMs: 400 } })
    p.registry.handle('/pnet/echo', async s => s.sink(s.source))
    const good = await openChannel(await p.connection.newStream(), '/pnet/echo')
    const goodWrites = good.stream.sink(
      (async function* () {
        for (let i = 0; i < 20; i++) {
          yield enc.encode(`${i},`)
          await new Promise(r => setTimeout(r, 30))
        }
      })(),
    )
    const evil = async (...chunks: Uint8Array[]) => {
      const s = await p.connection.newStream()
      // writes the chunks and keeps the write side open, as a slow or stuck peer would
      void s
        .sink(
          (async function* () {
            yield* chunks
            await new Promise(() => {})
          })(),
        )
        .catch(() => {})
      try {
        for await (const _ of s.source) {
        }
        return s.status
      } catch {
        return 'reset'
      }
    }
    const select = [multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/echo')]
    const outcomes = await Promise.all([
      evil(...select, Uint8Array.of(0x80, 0x80, 0x80, 0x08)), // oversized header: 16 MiB declared
      evil(...select, Uint8Array.of(0x03, 0x01, 0x07, 0x07)), // malformed frame: HELLO of header version 7
      evil(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), // malformed multistream prefix
      evil(...select, Uint8Array.of(0x30, 0x01)), // slowloris: a 48-byte header that never comes
      evil(...select), // slowloris: no header at all
    ])
    expect(outcomes).toEqual(['reset', 'reset', 'reset', 'reset', 'reset'])
    await goodWrites
    let echoed = ''
    for await (const c of good.stream.source) echoed += dec.decode(c)
    expect(echoed).toBe(Array.from({ length: 20 }, (_, i) => `${i},`).join(''))
    expect(p.connection.status).toBe('open')
    expect(await echoOnce((await openChannel(await p.connection.newStream(), '/pnet/echo')).stream, 'after')).toBe(
      'after',
    )
    const stats = p.registry.stats()
    expect(stats.channels[0]!.rejected).toMatchObject({ PROTOCOL_ERROR: 2, HANDSHAKE_TIMEOUT: 2 })
    expect(stats.selectionFailures).toBe(1)
  })

  it('a connection that keeps breaking the protocol is cut off (limits.protocolStrikes)', async () => {
    const p = await pair(adapter, { limits: { protocolStrikes: 3 } })
    p.registry.handle('/pnet/echo', async s => s.sink(s.source))
    await waitFor(() => p.server.connections().length === 1, 'the server side of the connection')
    const serverSide = p.serverConnection()
    for (let i = 0; i < 3; i++) {
      const s = await p.connection.newStream().catch(() => undefined)
      if (s === undefined) break
      void s.sink([Uint8Array.of(0x02, 0x00, 0x00)]).catch(() => {}) // a multistream message without its newline
      try {
        for await (const _ of s.source) {
        }
      } catch {
        // reset, as expected
      }
    }
    const err = await serverSide.closed
    expect(err?.message ?? '').toMatch(/3 channel protocol strikes \(.*last: multistream message does not end/)
    await waitFor(() => p.connection.status !== 'open', 'the client to see the connection cut')
  })
})
