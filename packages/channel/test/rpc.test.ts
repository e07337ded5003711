/**
 * call / cast / callStream over every adapter: replies, remote errors, deadlines and cancellation reaching the
 * remote handler, size limits both ways.
 */
import { waitFor } from '@pnet/network/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  bytesCodec,
  ChannelAbortedError,
  call,
  callStream,
  cast,
  jsonCodec,
  messages,
  openChannel,
  presharedKeyAuth,
  presharedKeyCredential,
  RemoteError,
  RpcKind,
  rpcHandler,
} from '../src/index.js'
import { adapters, closeAll, pair } from './helpers.js'

afterAll(closeAll)

function onAbort(signal: AbortSignal): Promise<string> {
  return new Promise(resolve =>
    signal.addEventListener('abort', () => resolve(String(signal.reason?.message ?? signal.reason)), { once: true }),
  )
}

describe.each(adapters)('rpc over $name', adapter => {
  it('call returns the reply; cast delivers; callStream yields every item then ends', async () => {
    const p = await pair(adapter)
    const casts: unknown[] = []
    p.registry.handle(
      '/pnet/kv',
      rpcHandler<{ op: string; n?: number }, unknown>({
        call: (req, ctx) => ({ echo: req, version: ctx.version, from: ctx.remotePeer.toString() }),
        cast: req => {
          casts.push(req)
        },
        async *stream(req) {
          for (let i = 0; i < (req.n ?? 0); i++) yield i
        },
      }),
    )
    expect(await call(p.connection, '/pnet/kv', { op: 'get' })).toEqual({
      echo: { op: 'get' },
      version: 1,
      from: p.client.peerId.toString(),
    })
    await cast(p.connection, '/pnet/kv', { op: 'log' })
    await waitFor(() => casts.length === 1, 'the cast to arrive')
    expect(casts).toEqual([{ op: 'log' }])
    const items: number[] = []
    for await (const i of callStream<number>(p.connection, '/pnet/kv', { op: 'count', n: 50 })) items.push(i)
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it('a remote error arrives typed, with name, message and code, and no stack', async () => {
    const p = await pair(adapter)
    p.registry.handle(
      '/pnet/fail',
      rpcHandler({
        call: () => {
          throw Object.assign(new TypeError('bad argument "x"'), { code: 'E_ARG' })
        },
        async *stream() {
          yield 1
          yield 2
          throw new RangeError('ran out')
        },
      }),
    )
    const err: any = await call(p.connection, '/pnet/fail', {}).catch((e: any) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err).toMatchObject({
      code: 'ERR_REMOTE_ERROR',
      remoteName: 'TypeError',
      remoteMessage: 'bad argument "x"',
      remoteCode: 'E_ARG',
    })
    expect(err.message).toBe(`channel /pnet/fail on ${p.server.peerId}: remote TypeError: bad argument "x"`)
    expect(err.message).not.toMatch(/\bat .*:\d+/)
    const got: number[] = []
    const streamErr = await (async () => {
      for await (const i of callStream<number>(p.connection, '/pnet/fail', {})) got.push(i)
    })().catch((e: any) => e)
    expect(got).toEqual([1, 2])
    expect(streamErr).toMatchObject({ remoteName: 'RangeError', remoteMessage: 'ran out' })
  })

  it('a request kind the handler does not serve gets UnsupportedRequestError', async () => {
    const p = await pair(adapter)
    p.registry.handle('/pnet/only-call', rpcHandler({ call: () => 'ok' }))
    const err: any = await callStream(p.connection, '/pnet/only-call', {})
      .next()
      .catch((e: any) => e)
    expect(err).toMatchObject({
      remoteName: 'UnsupportedRequestError',
      remoteMessage: 'channel /pnet/only-call does not take streams',
      remoteCode: 'ERR_UNSUPPORTED_REQUEST',
    })
    expect(await call(p.connection, '/pnet/only-call', {})).toBe('ok')
  })

  it('a deadline aborts the call and fires the remote handler signal', async () => {
    const p = await pair(adapter)
    const remote: Promise<string>[] = []
    // the deadline fires once the request is in the handler (a fixed 150 ms could pass before it gets there on a
    // loaded machine, and then there is no remote signal to see fire)
    const deadline = new AbortController()
    p.registry.handle(
      '/pnet/slow',
      rpcHandler({
        call: async (_req, ctx) => {
          const aborted = onAbort(ctx.signal)
          remote.push(aborted)
          setTimeout(
            () => deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
            50,
          )
          await aborted
          return 'too late'
        },
      }),
    )
    const err: any = await call(p.connection, '/pnet/slow', {}, { signal: deadline.signal }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelAbortedError)
    expect(err.message).toMatch(/aborted \(.*timed out|aborted \(The operation was aborted due to timeout\)/)
    expect(remote.length).toBe(1)
    expect(await remote[0]).toMatch(/reset|closed|aborted/)
  })

  it('breaking out of callStream cancels the remote stream', async () => {
    const p = await pair(adapter)
    let cancelled: Promise<string> | undefined
    p.registry.handle(
      '/pnet/ticks',
      rpcHandler({
        async *stream(_req, ctx) {
          cancelled = onAbort(ctx.signal)
          for (let i = 0; !ctx.signal.aborted; i++) {
            yield i
            await new Promise(r => setTimeout(r, 5))
          }
        },
      }),
    )
    for await (const i of callStream<number>(p.connection, '/pnet/ticks', {})) if (i === 3) break
    await waitFor(() => cancelled !== undefined, 'the handler to start')
    expect(await cancelled).toMatch(/reset|closed|aborted/)
  })

  it('size limits: an oversized request or reply comes back as MessageTooLargeError, before it is sent or read', async () => {
    const p = await pair(adapter)
    p.registry.handle('/pnet/big', rpcHandler<{ size: number }, string>({ call: ({ size }) => 'x'.repeat(size) }), {
      maxMessageSize: 1024,
    })
    const request: any = await call(p.connection, '/pnet/big', { size: 1, pad: 'y'.repeat(5000) }).catch((e: any) => e)
    expect(request).toMatchObject({ remoteName: 'MessageTooLargeError' })
    expect(request.remoteMessage).toMatch(/^request of 50\d\d bytes is over the limit of 1024$/)
    const reply: any = await call(p.connection, '/pnet/big', { size: 500 }, { maxMessageSize: 100 }).catch(
      (e: any) => e,
    )
    expect(reply).toMatchObject({ remoteName: 'MessageTooLargeError' })
    expect(reply.remoteMessage).toBe("reply of 503 bytes is over the caller's limit of 100")
    expect(await call(p.connection, '/pnet/big', { size: 10 })).toBe('xxxxxxxxxx')
  })

  it('a pre-shared key channel serves calls (the request waits for ACCEPT)', async () => {
    const p = await pair(adapter)
    const key = 'a cluster cookie of some length'
    p.registry.handle('/pnet/psk-rpc', rpcHandler({ call: (n: number) => n * 2 }), { auth: presharedKeyAuth({ key }) })
    expect(await call(p.connection, '/pnet/psk-rpc', 21, { credentials: [presharedKeyCredential({ key })] })).toBe(42)
  })

  it('a malformed request gets a ChannelProtocolError reply; bytes codec passes bytes through', async () => {
    const p = await pair(adapter)
    p.registry.handle('/pnet/json', rpcHandler({ call: (x: unknown) => x }))
    p.registry.handle('/pnet/bytes', rpcHandler({ codec: bytesCodec, call: (x: Uint8Array) => x.reverse() }))
    const ch = await openChannel(await p.connection.newStream(), '/pnet/json')
    const m = messages(ch.stream)
    await m.write(Uint8Array.of(RpcKind.CALL, 0x7b, 0x7b)) // "{{"
    const reply = await m.read()
    expect(reply?.[0]).toBe(RpcKind.ERROR)
    expect(new TextDecoder().decode(reply!.subarray(1))).toMatch(/ChannelProtocolError.*malformed json request/)
    expect(await call(p.connection, '/pnet/bytes', Uint8Array.of(1, 2, 3), { codec: bytesCodec })).toEqual(
      Uint8Array.of(3, 2, 1),
    )
    expect(jsonCodec().decode(jsonCodec().encode(undefined))).toBeUndefined()
  })
})
