/**
 * The handshake on an in-process stream pair: round trips, what each side writes, and every outcome a misbehaving
 * peer (either side) can cause.
 */
import { generateKey, peerIdFromKey } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { decodeHeaderFrame, encodeHeaderFrame } from '../src/header.js'
import {
  ChannelClosedError,
  ChannelHandshakeTimeoutError,
  ChannelProtocolError,
  createChannelRegistry,
  NoSuchChannelError,
  openChannel,
  presharedKeyAuth,
  presharedKeyCredential,
} from '../src/index.js'
import { StreamReader } from '../src/io.js'
import { MAX_HEADER_FRAME_BYTES, MAX_PROPOSALS } from '../src/limits.js'
import { MULTISTREAM_PROTOCOL, multistreamMessage, parseMultistreamMessage } from '../src/multistream.js'
import { lengthPrefixed } from '../src/wire.js'
import { memoryStreamPair } from './memory-stream.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

async function peers() {
  const a = peerIdFromKey(await generateKey())
  const b = peerIdFromKey(await generateKey())
  return { a, b }
}

function hello(versions = { min: 1, max: 1 }, flags = 0) {
  return lengthPrefixed(
    encodeHeaderFrame({
      type: 'hello',
      flags,
      versions,
      nonce: new Uint8Array(32),
      maxMessageSize: 0,
      metadata: {},
      credentials: new Map(),
    }),
  )
}

/** Writes raw bytes as the caller and reads the callee's answers with the same reader the library uses. */
function rawCaller(stream: ReturnType<typeof memoryStreamPair>[0]) {
  const queue: Uint8Array[] = []
  let wake: (() => void) | undefined
  let ended = false
  const sinkDone = stream.sink(
    (async function* () {
      while (true) {
        const c = queue.shift()
        if (c !== undefined) {
          yield c
          continue
        }
        if (ended) return
        await new Promise<void>(r => {
          wake = r
        })
      }
    })(),
  )
  sinkDone.catch(() => {})
  const reader = new StreamReader(stream.source)
  return {
    send(...chunks: Uint8Array[]) {
      queue.push(...chunks)
      wake?.()
    },
    end() {
      ended = true
      wake?.()
    },
    async mss(): Promise<string | undefined> {
      const p = await reader.readFrame(1024)
      return p === undefined ? undefined : parseMultistreamMessage(p)
    },
    async frame() {
      const p = await reader.readFrame(MAX_HEADER_FRAME_BYTES)
      return p === undefined ? undefined : decodeHeaderFrame(p)
    },
    async endOrReset(): Promise<'end' | 'reset'> {
      try {
        while ((await reader.readFrame(1 << 20)) !== undefined) {}
        return 'end'
      } catch {
        return 'reset'
      }
    },
  }
}

describe('round trips', () => {
  it('a header channel opens in one round trip: one write each way, early data included', async () => {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/echo', async s => s.sink(s.source), { versions: [1, 2] })
    registry.accept(callee)
    const ch = await openChannel(caller, '/pnet/echo', { versions: { min: 1, max: 3 }, earlyData: enc.encode('ping') })
    expect(ch.version).toBe(2)
    expect(caller.writes).toHaveLength(1) // multistream header + proposal + HELLO + early data
    expect(callee.writes).toHaveLength(1) // multistream header + echo + ACCEPT
    const echoed = (await ch.stream.source[Symbol.asyncIterator]().next()).value as Uint8Array
    expect(dec.decode(echoed)).toBe('ping')
    expect(caller.writes[0]!.byteLength).toBeLessThan(120)
  })

  it('a header-less channel: one write each way', async () => {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/ipfs/ping/1.0.0', async s => s.sink(s.source), { header: false })
    registry.accept(callee)
    const ch = await openChannel(caller, '/ipfs/ping/1.0.0', { header: false })
    expect(ch.version).toBe(0)
    expect(caller.writes).toHaveLength(1)
    expect(callee.writes).toHaveLength(1)
  })

  it('a pre-shared key costs one more round trip, and early data waits for ACCEPT', async () => {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    const key = 'correct horse battery staple'
    registry.handle('/pnet/c', async s => s.sink(s.source), { auth: presharedKeyAuth({ key }) })
    registry.accept(callee)
    const ch = await openChannel(caller, '/pnet/c', {
      localPeer: a,
      credentials: [presharedKeyCredential({ key })],
      earlyData: enc.encode('x'),
    })
    expect(caller.writes).toHaveLength(2) // HELLO, then PROOF (the early data follows ACCEPT)
    expect(callee.writes).toHaveLength(2) // CHALLENGE, then ACCEPT
    await ch.stream.close()
  })

  it('answers the multistream header at once for a dialer that waits for it before proposing', async () => {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/x/1', async s => s.sink(s.source), { header: false })
    registry.accept(callee)
    const raw = rawCaller(caller)
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL))
    expect(await raw.mss()).toBe(MULTISTREAM_PROTOCOL)
    raw.send(multistreamMessage('/nope'))
    expect(await raw.mss()).toBe('na')
    raw.send(multistreamMessage('ls'))
    expect(await raw.mss()).toBe('na')
    raw.send(multistreamMessage('/x/1'))
    expect(await raw.mss()).toBe('/x/1')
  })
})

describe('a misbehaving caller', () => {
  async function setup(limits = {}) {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b, limits })
    let handled = 0
    registry.handle('/pnet/h', async s => {
      handled++
      await s.sink(s.source)
    })
    registry.accept(callee)
    const raw = rawCaller(caller)
    return { raw, registry, handled: () => handled }
  }

  it('an oversized HELLO gets REJECT PROTOCOL_ERROR and a reset, before its body is read', async () => {
    const { raw, registry, handled } = await setup()
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/h'))
    raw.send(Uint8Array.of(0x80, 0x80, 0x40)) // length prefix: 1 MiB
    expect(await raw.mss()).toBe(MULTISTREAM_PROTOCOL)
    expect(await raw.mss()).toBe('/pnet/h')
    const reject = await raw.frame()
    expect(reject).toMatchObject({ type: 'reject', code: 'PROTOCOL_ERROR' })
    expect(reject?.type === 'reject' && reject.reason).toMatch(/1048576 bytes is over the limit of 16384/)
    expect(await raw.endOrReset()).toBe('reset')
    expect(handled()).toBe(0)
    expect(registry.stats().channels[0]!.rejected.PROTOCOL_ERROR).toBe(1)
  })

  it('a frame that is not a HELLO gets PROTOCOL_ERROR', async () => {
    const { raw } = await setup()
    raw.send(
      multistreamMessage(MULTISTREAM_PROTOCOL),
      multistreamMessage('/pnet/h'),
      lengthPrefixed(Uint8Array.of(0x04, 1, 0, 0)),
    )
    await raw.mss()
    await raw.mss()
    const reject = await raw.frame()
    expect(reject).toMatchObject({
      type: 'reject',
      code: 'PROTOCOL_ERROR',
      reason: 'expected a HELLO frame, got ACCEPT',
    })
  })

  it('garbage instead of a header gets PROTOCOL_ERROR naming what was wrong', async () => {
    const { raw } = await setup()
    raw.send(
      multistreamMessage(MULTISTREAM_PROTOCOL),
      multistreamMessage('/pnet/h'),
      lengthPrefixed(enc.encode('GET / HTTP/1.1')),
    )
    await raw.mss()
    await raw.mss()
    expect(await raw.frame()).toMatchObject({
      type: 'reject',
      code: 'PROTOCOL_ERROR',
      reason: 'unknown header frame type 0x47',
    })
  })

  it('an unknown version gets VERSION_UNSUPPORTED with what is supported, and a graceful close', async () => {
    const { raw } = await setup()
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/h'), hello({ min: 5, max: 9 }))
    await raw.mss()
    await raw.mss()
    expect(await raw.frame()).toEqual({
      type: 'reject',
      code: 'VERSION_UNSUPPORTED',
      reason: 'no common version',
      supported: [{ min: 1, max: 1 }],
    })
    raw.end()
    expect(await raw.endOrReset()).toBe('end')
  })

  it('a header that never finishes (slowloris) gets HANDSHAKE_TIMEOUT, however slowly it drips', async () => {
    const { raw, handled } = await setup({ handshakeTimeoutMs: 300 })
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/h'))
    const h = hello()
    const drip = setInterval(() => raw.send(h.subarray(0, 1)), 50) // a byte every 50 ms, never the whole header
    try {
      await raw.mss()
      await raw.mss()
      expect(await raw.frame()).toMatchObject({ type: 'reject', code: 'HANDSHAKE_TIMEOUT' })
      expect(await raw.endOrReset()).toBe('reset')
    } finally {
      clearInterval(drip)
    }
    expect(handled()).toBe(0)
  })

  it('a stalled selection is reset after the handshake timeout', async () => {
    const { raw, registry } = await setup({ handshakeTimeoutMs: 200 })
    raw.send(Uint8Array.of(0x13)) // the first byte of a multistream message, then nothing
    expect(await raw.endOrReset()).toBe('reset')
    expect(registry.stats().selectionFailures).toBe(1)
  })

  it(`more than MAX_PROPOSALS (${MAX_PROPOSALS}) proposals end the stream`, async () => {
    const { raw } = await setup()
    for (let i = 0; i <= MAX_PROPOSALS; i++) raw.send(multistreamMessage(`/unknown/${i}`))
    let answers = 0
    while ((await raw.mss().catch(() => undefined)) === 'na') answers++
    expect(answers).toBe(MAX_PROPOSALS)
  })

  it('after refusing a channel, swallows the optimistic HELLO and closes quietly', async () => {
    const { raw, registry } = await setup()
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/nope'), hello())
    expect(await raw.mss()).toBe(MULTISTREAM_PROTOCOL)
    expect(await raw.mss()).toBe('na')
    raw.end()
    expect(await raw.endOrReset()).toBe('end')
    expect(registry.stats().unknownChannel).toBe(1)
    expect(registry.stats().selectionFailures).toBe(0)
  })

  it('a caller that ends its stream inside the header gets PROTOCOL_ERROR', async () => {
    const { raw, handled } = await setup()
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/h'), hello().subarray(0, 5))
    raw.end()
    await raw.mss()
    await raw.mss()
    expect(await raw.frame()).toMatchObject({ code: 'PROTOCOL_ERROR', reason: 'stream ended inside a 41-byte frame' })
    expect(handled()).toBe(0)
  })

  it('a caller that leaves before its header is let go without a reply', async () => {
    const { raw, handled, registry } = await setup()
    raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/h'))
    raw.end()
    await raw.mss()
    await raw.mss()
    expect(await raw.endOrReset()).toBe('reset')
    expect(handled()).toBe(0)
    expect(Object.values(registry.stats().channels[0]!.rejected).every(n => n === 0)).toBe(true)
  })
})

describe('a misbehaving callee', () => {
  async function fakeCallee(answer: (raw: ReturnType<typeof rawCaller>) => Promise<void>, opts = {}) {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    const raw = rawCaller(callee) // the same helper, used from the callee's end
    void answer(raw)
    return openChannel(caller, '/pnet/x', { timeoutMs: 500, ...opts })
  }

  it('answering with something other than multistream is a protocol error', async () => {
    const err = await fakeCallee(async raw => raw.send(lengthPrefixed(enc.encode('HTTP/1.1 400')))).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelProtocolError)
    expect(err.message).toMatch(/channel \/pnet\/x on 12D3Koo.*protocol error/)
  })

  it('choosing a version that was not offered is a protocol error', async () => {
    const err = await fakeCallee(async raw => {
      raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/x'))
      raw.send(lengthPrefixed(encodeHeaderFrame({ type: 'accept', version: 9, maxMessageSize: 0, metadata: {} })))
    }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelProtocolError)
    expect(err.reason).toBe('the callee chose version 9, which was not offered')
  })

  it('an oversized frame from the callee is refused without reading it', async () => {
    const err = await fakeCallee(async raw => {
      raw.send(multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage('/pnet/x'), Uint8Array.of(0xff, 0xff, 0x7f))
    }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelProtocolError)
    expect(err.reason).toMatch(/over the limit of 16384/)
  })

  it('silence is HANDSHAKE_TIMEOUT', async () => {
    const err = await fakeCallee(async () => {}, { timeoutMs: 150 }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelHandshakeTimeoutError)
    expect(err.message).toMatch(/handshake for channel \/pnet\/x on 12D3Koo\w+ timed out after 150 ms/)
  })

  it('closing during selection is CHANNEL_CLOSED', async () => {
    const err = await fakeCallee(async raw => raw.end()).catch((e: any) => e)
    expect(err).toBeInstanceOf(ChannelClosedError)
  })

  it('na to every proposal is NO_SUCH_CHANNEL naming all of them', async () => {
    const { a, b } = await peers()
    const [caller, callee] = memoryStreamPair(a, b)
    createChannelRegistry({ localPeer: b }).accept(callee)
    const err = await openChannel(caller, ['/x/2', '/x/1'], { header: false }).catch((e: any) => e)
    expect(err).toBeInstanceOf(NoSuchChannelError)
    expect(err.message).toMatch(/^peer 12D3Koo\w+ has no channel \/x\/2 or \/x\/1$/)
  })
})

describe('registry lifecycle', () => {
  it("close() fires running handlers' signals and refuses new streams; unhandle() stops new callers only", async () => {
    const { a, b } = await peers()
    const registry = createChannelRegistry({ localPeer: b })
    const reasons: string[] = []
    registry.handle('/pnet/long', async (_s, ctx) => {
      await new Promise<void>(r => ctx.signal.addEventListener('abort', () => r(), { once: true }))
      reasons.push(String(ctx.signal.reason?.message))
    })
    const [c1, e1] = memoryStreamPair(a, b)
    registry.accept(e1)
    await openChannel(c1, '/pnet/long')
    expect(registry.unhandle('/pnet/long')).toBe(true)
    const [c2, e2] = memoryStreamPair(a, b)
    registry.accept(e2)
    await expect(openChannel(c2, '/pnet/long')).rejects.toBeInstanceOf(NoSuchChannelError)
    await registry.close()
    await new Promise(r => setTimeout(r, 10))
    expect(reasons).toEqual(['channel registry closed'])
    const [, e3] = memoryStreamPair(a, b)
    registry.accept(e3)
    expect(e3.status).toBe('aborted')
  })

  it('handle() refuses duplicates and bad options', async () => {
    const { b } = await peers()
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/a', () => {})
    expect(() => registry.handle('/pnet/a', () => {})).toThrow(/already handled/)
    expect(() => registry.handle('/pnet/b', () => {}, { maxConcurrent: 0 })).toThrow(/maxConcurrent/)
    expect(() => registry.handle('/x/1', () => {}, { header: false, versions: 2 })).toThrow(
      /versions need the pnet header/,
    )
    expect(() => registry.handle('/pnet/c', () => {}, { metadata: { 'bad key': '' } })).toThrow(/printable ASCII/)
    expect(registry.channels()).toEqual(['/pnet/a'])
  })
})
