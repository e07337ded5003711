/**
 * Every limit in src/limits.ts, tripped: the test title names the constant.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey, type PeerId, peerIdFromKey, type Stream } from '@pnet/network'
import { waitFor } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import { decodeHeaderFrame, encodeHeaderFrame } from '../src/header.js'
import {
  call,
  capabilityAuth,
  capabilityCredential,
  createChannelRegistry,
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REPLAY_CACHE_ENTRIES,
  DEFAULT_TOKEN_CLOCK_SKEW_MS,
  HANDLER_CLOSE_TIMEOUT_MS,
  issueCapability,
  MAX_CHALLENGES,
  MAX_CHANNEL_NAME_BYTES,
  MAX_CREDENTIAL_BYTES,
  MAX_CREDENTIALS,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_NAME_BYTES,
  MAX_HEADER_FRAME_BYTES,
  MAX_MESSAGE_BYTES_CAP,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_BYTES,
  MAX_METADATA_VALUE_BYTES,
  MAX_MULTISTREAM_MESSAGE_BYTES,
  MAX_REASON_BYTES,
  MAX_SCHEME_BYTES,
  MAX_TOKEN_AUDIENCE,
  MAX_TOKEN_BYTES,
  MAX_TOKEN_CLAIMS,
  MAX_VARINT_BYTES,
  MAX_VERSION,
  MAX_VERSION_RANGES,
  MIN_PSK_BYTES,
  MIN_VERSION,
  messages,
  NONCE_BYTES,
  OverloadedError,
  openChannel,
  presharedKeyAuth,
  REJECT_DRAIN_BYTES,
  REJECT_LINGER_MS,
  resolveChannelLimits,
  rpcHandler,
} from '../src/index.js'
import { checkMetadata } from '../src/metadata.js'
import { MULTISTREAM_PROTOCOL, multistreamMessage } from '../src/multistream.js'
import { lengthPrefixed, readUvarint } from '../src/wire.js'
import { memoryStreamPair } from './memory-stream.js'

const enc = new TextEncoder()
let a: PeerId
let b: PeerId

async function ids() {
  a ??= peerIdFromKey(await generateKey())
  b ??= peerIdFromKey(await generateKey())
  return { a, b }
}

function hello(over: Record<string, unknown> = {}) {
  return encodeHeaderFrame({
    type: 'hello',
    flags: 0,
    versions: { min: 1, max: 1 },
    nonce: new Uint8Array(NONCE_BYTES),
    maxMessageSize: 0,
    metadata: {},
    credentials: new Map(),
    ...over,
  } as never)
}

/** Sends raw caller bytes to a registry and returns everything the callee wrote plus how its stream ended. */
async function against(
  bytes: Uint8Array[],
  setup: (r: ReturnType<typeof createChannelRegistry>) => void,
  keepOpen = false,
) {
  const { a, b } = await ids()
  const [caller, callee] = memoryStreamPair(a, b)
  const registry = createChannelRegistry({ localPeer: b })
  setup(registry)
  registry.accept(callee)
  void caller
    .sink(
      (async function* () {
        yield* bytes
        if (keepOpen) await new Promise(() => {})
      })(),
    )
    .catch(() => {})
  let ended: 'end' | 'reset' = 'end'
  try {
    for await (const _ of caller.source) {
    }
  } catch {
    ended = 'reset'
  }
  if (keepOpen) {
    // our write side is open, so the stream ends only when the callee resets it
    await waitFor(() => caller.status !== 'open', 'the callee to end the stream')
    ended = caller.status === 'reset' ? 'reset' : ended
  }
  return { ended, written: callee.writes, registry }
}

const select = (name: string) => [multistreamMessage(MULTISTREAM_PROTOCOL), multistreamMessage(name)]

describe('wire limits', () => {
  it(`MAX_MULTISTREAM_MESSAGE_BYTES (${MAX_MULTISTREAM_MESSAGE_BYTES}): a longer proposal resets the stream`, async () => {
    const long = lengthPrefixed(enc.encode(`/${'a'.repeat(MAX_MULTISTREAM_MESSAGE_BYTES)}\n`))
    const { ended, registry } = await against([long], () => {})
    expect(ended).toBe('reset')
    expect(registry.stats().selectionFailures).toBe(1)
  })

  it(`MAX_CHANNEL_NAME_BYTES (${MAX_CHANNEL_NAME_BYTES}): longer names are refused`, () => {
    const r = createChannelRegistry({ localPeer: peerIdFromKey as never })
    expect(() => r.handle(`/${'n'.repeat(MAX_CHANNEL_NAME_BYTES)}`, () => {})).toThrow(/longer than 1023 bytes/)
    expect(() => r.handle(`/${'n'.repeat(MAX_CHANNEL_NAME_BYTES - 1)}`, () => {})).not.toThrow()
  })

  it(`MAX_HEADER_FRAME_BYTES (${MAX_HEADER_FRAME_BYTES}): a bigger HELLO is refused; a caller cannot build one`, async () => {
    const { written, ended } = await against(
      [...select('/pnet/x'), Uint8Array.of(0x81, 0x80, 0x01)], // declares 16385 bytes
      r => r.handle('/pnet/x', () => {}),
      true,
    )
    expect(ended).toBe('reset')
    expect(Buffer.concat(written).toString()).toContain('16385 bytes is over the limit of 16384')
    const { a, b } = await ids()
    const [caller] = memoryStreamPair(a, b)
    const metadata = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'.repeat(600)]))
    await expect(openChannel(caller, '/pnet/x', { metadata })).rejects.toThrow(/header is \d+ bytes, over 16384/)
  })

  it(`MAX_VARINT_BYTES (${MAX_VARINT_BYTES}): a longer varint is malformed`, () => {
    expect(() => readUvarint(new Uint8Array(MAX_VARINT_BYTES + 1).fill(0x80))).toThrow(/longer than 8 bytes/)
  })

  it(`MAX_METADATA_ENTRIES / KEY / VALUE (${MAX_METADATA_ENTRIES} / ${MAX_METADATA_KEY_BYTES} / ${MAX_METADATA_VALUE_BYTES})`, () => {
    const many = Object.fromEntries(Array.from({ length: MAX_METADATA_ENTRIES + 1 }, (_, i) => [`k${i}`, '']))
    expect(() => checkMetadata(many)).toThrow(/33 entries, more than 32/)
    expect(() => checkMetadata({ ['k'.repeat(MAX_METADATA_KEY_BYTES + 1)]: '' })).toThrow(/longer than 64 bytes/)
    expect(() => checkMetadata({ k: 'v'.repeat(MAX_METADATA_VALUE_BYTES + 1) })).toThrow(/longer than 1024 bytes/)
    const wire = hello().slice()
    wire[wire.byteLength - 2] = MAX_METADATA_ENTRIES + 1 // metadata count
    expect(() => decodeHeaderFrame(wire)).toThrow(/metadata count is 33, above the limit of 32/)
  })

  it(`MAX_CREDENTIALS / MAX_SCHEME_BYTES / MAX_CREDENTIAL_BYTES (${MAX_CREDENTIALS} / ${MAX_SCHEME_BYTES} / ${MAX_CREDENTIAL_BYTES})`, async () => {
    const creds = (n: number, size = 1) => new Map(Array.from({ length: n }, (_, i) => [`s${i}`, new Uint8Array(size)]))
    expect(() => decodeHeaderFrame(hello({ credentials: creds(MAX_CREDENTIALS + 1) }))).toThrow(/credential count is 5/)
    expect(() => decodeHeaderFrame(hello({ credentials: creds(1, MAX_CREDENTIAL_BYTES + 1) }))).toThrow(/4097 bytes/)
    expect(() =>
      decodeHeaderFrame(hello({ credentials: new Map([['s'.repeat(MAX_SCHEME_BYTES + 1), new Uint8Array(0)]]) })),
    ).toThrow(/credential scheme is 33 bytes/)
    const { a, b } = await ids()
    const [caller] = memoryStreamPair(a, b)
    await expect(
      openChannel(caller, '/pnet/x', {
        credentials: [{ scheme: 'big', present: () => new Uint8Array(MAX_CREDENTIAL_BYTES + 1) }],
      }),
    ).rejects.toThrow(/over 4096/)
  })

  it(`MAX_CHALLENGES (${MAX_CHALLENGES}): a policy asking more is refused, a callee sending more is a protocol error`, async () => {
    const { a, b } = await ids()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/chatty', () => {}, {
      auth: {
        name: 'chatty',
        async authorize(ctx) {
          for (let i = 0; i < MAX_CHALLENGES + 1; i++) await ctx.challenge('x', new Uint8Array(0))
          return { allowed: true }
        },
      },
    })
    registry.accept(callee)
    const err = await openChannel(caller, '/pnet/chatty', {
      credentials: [{ scheme: 'x', respond: () => new Uint8Array(0) }],
    }).catch((e: any) => e)
    expect(err.code).toBe('ERR_UNAUTHORIZED')
    expect(err.reason).toBe('authorization failed')
    const [c2, e2] = memoryStreamPair(a, b)
    const challenge = lengthPrefixed(encodeHeaderFrame({ type: 'challenge', scheme: 'x', payload: new Uint8Array(0) }))
    void e2
      .sink([...select('/pnet/chatty'), ...Array.from({ length: MAX_CHALLENGES + 1 }, () => challenge)])
      .catch(() => {})
    const err2 = await openChannel(c2, '/pnet/chatty', {
      credentials: [{ scheme: 'x', respond: () => new Uint8Array(0) }],
    }).catch((e: any) => e)
    expect(err2.reason).toBe('more than 4 challenges')
  })

  it(`MIN_VERSION..MAX_VERSION (${MIN_VERSION}..${MAX_VERSION})`, async () => {
    const { a, b } = await ids()
    const [caller] = memoryStreamPair(a, b)
    await expect(openChannel(caller, '/pnet/x', { versions: MAX_VERSION + 1 })).rejects.toThrow(RangeError)
    expect(() =>
      createChannelRegistry({ localPeer: b }).handle('/pnet/x', () => {}, { versions: MIN_VERSION - 1 }),
    ).toThrow(/from 1 to 65535/)
  })

  it(`MAX_VERSION_RANGES (${MAX_VERSION_RANGES}): a REJECT lists at most that many`, async () => {
    const odd = Array.from({ length: 40 }, (_, i) => 2 * i + 1)
    const { written } = await against(
      [...select('/pnet/v'), lengthPrefixed(hello({ versions: { min: 1000, max: 1000 } }))],
      r => r.handle('/pnet/v', () => {}, { versions: odd }),
    )
    const frame = Buffer.concat(written)
    const at = frame.indexOf(Buffer.from('no common version'))
    expect(frame[at + 'no common version'.length]).toBe(MAX_VERSION_RANGES)
  })

  it(`MAX_REASON_BYTES (${MAX_REASON_BYTES}): long deny reasons are cut`, async () => {
    const { a, b } = await ids()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/r', () => {}, {
      auth: { name: 'wordy', authorize: () => ({ allowed: false, reason: 'é'.repeat(1000) }) },
    })
    registry.accept(callee)
    const err = await openChannel(caller, '/pnet/r').catch((e: any) => e)
    expect(Buffer.byteLength(err.reason)).toBe(MAX_REASON_BYTES)
  })

  it(`NONCE_BYTES (${NONCE_BYTES}): a HELLO with another nonce size is malformed`, () => {
    expect(() => decodeHeaderFrame(hello({ nonce: new Uint8Array(NONCE_BYTES - 1) }))).toThrow(
      /nonce is 31 bytes, not 32/,
    )
  })

  it(`MIN_PSK_BYTES (${MIN_PSK_BYTES})`, () => {
    expect(() => presharedKeyAuth({ key: new Uint8Array(MIN_PSK_BYTES - 1) })).toThrow(/at least 16 bytes/)
    expect(() => presharedKeyAuth({ key: new Uint8Array(MIN_PSK_BYTES) })).not.toThrow()
  })
})

describe('token limits', () => {
  it(`MAX_TOKEN_BYTES / MAX_TOKEN_CLAIMS / MAX_TOKEN_AUDIENCE (${MAX_TOKEN_BYTES} / ${MAX_TOKEN_CLAIMS} / ${MAX_TOKEN_AUDIENCE})`, async () => {
    const issuer = await generateKeyPair('Ed25519')
    const { a } = await ids()
    const base = { issuer, subject: a, channel: '/pnet/x' }
    const claims = (n: number, size = 1) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, 'v'.repeat(size)]))
    await expect(issueCapability({ ...base, claims: claims(MAX_TOKEN_CLAIMS + 1) })).rejects.toThrow(
      /at most 16 claims/,
    )
    await expect(
      issueCapability({ ...base, audience: Array.from({ length: MAX_TOKEN_AUDIENCE + 1 }, () => a) }),
    ).rejects.toThrow(/at most 16 audience/)
    await expect(issueCapability({ ...base, claims: claims(MAX_TOKEN_CLAIMS, 300) })).rejects.toThrow(/over 4096/)
    expect(() => capabilityCredential(new Uint8Array(MAX_TOKEN_BYTES + 1))).toThrow(/over 4096/)
  })

  it(`DEFAULT_TOKEN_CLOCK_SKEW_MS (${DEFAULT_TOKEN_CLOCK_SKEW_MS}) and DEFAULT_REPLAY_CACHE_ENTRIES (${DEFAULT_REPLAY_CACHE_ENTRIES})`, async () => {
    const issuer = await generateKeyPair('Ed25519')
    const { a, b } = await ids()
    const now = Date.now()
    const token = await issueCapability({
      issuer,
      subject: a,
      channel: '/pnet/t',
      notBefore: now - 100_000,
      expires: now,
    })
    const decide = async (policy: ReturnType<typeof capabilityAuth>, bytes: Uint8Array) =>
      policy.authorize({
        channel: '/pnet/t',
        version: 1,
        localPeer: b,
        remotePeer: a,
        metadata: {},
        credentials: new Map([['capability', bytes]]),
        callerNonce: new Uint8Array(32),
        challenge: async () => new Uint8Array(0),
        signal: new AbortController().signal,
      })
    const at = (t: number) => capabilityAuth({ issuers: [issuer.publicKey], now: () => t })
    expect((await decide(at(now + DEFAULT_TOKEN_CLOCK_SKEW_MS - 1), token)).allowed).toBe(true)
    expect((await decide(at(now + DEFAULT_TOKEN_CLOCK_SKEW_MS), token)).allowed).toBe(false)
    // the replay cache fails closed when full (a small cache trips the same rule as the default size)
    const small = capabilityAuth({ issuers: [issuer.publicKey], replayCacheEntries: 2 })
    const once = () => issueCapability({ issuer, subject: a, channel: '/pnet/t', singleUse: true })
    expect((await decide(small, await once())).allowed).toBe(true)
    expect((await decide(small, await once())).allowed).toBe(true)
    expect(await decide(small, await once())).toMatchObject({ allowed: false, reason: /already used/ })
  })
})

describe('message limits', () => {
  it(`DEFAULT_MAX_MESSAGE_BYTES (${DEFAULT_MAX_MESSAGE_BYTES}) and MAX_MESSAGE_BYTES_CAP (${MAX_MESSAGE_BYTES_CAP})`, async () => {
    const { a, b } = await ids()
    const [caller, callee] = memoryStreamPair(a, b)
    const reader = messages(callee)
    void caller.sink([lengthPrefixed(new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1))]).catch(() => {})
    await expect(reader.read()).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE', size: 1048577, limit: 1048576 })
    expect(() =>
      createChannelRegistry({ localPeer: b }).handle('/pnet/m', () => {}, {
        maxMessageSize: MAX_MESSAGE_BYTES_CAP + 1,
      }),
    ).toThrow(/maxMessageSize must be an integer from 1 to 67108864/)
  })

  it(`MAX_ERROR_NAME_BYTES / MAX_ERROR_MESSAGE_BYTES (${MAX_ERROR_NAME_BYTES} / ${MAX_ERROR_MESSAGE_BYTES})`, async () => {
    const { a, b } = await ids()
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle(
      '/pnet/e',
      rpcHandler({
        call: () => {
          throw Object.assign(new Error('m'.repeat(10_000)), { name: 'N'.repeat(500) })
        },
      }),
    )
    registry.accept(callee)
    const err: any = await call({ newStream: async () => caller }, '/pnet/e', {}).catch((e: any) => e)
    expect(err.remoteName).toHaveLength(MAX_ERROR_NAME_BYTES)
    expect(err.remoteMessage).toHaveLength(MAX_ERROR_MESSAGE_BYTES)
  })
})

describe('registry limits', () => {
  it(`DEFAULT_MAX_CONCURRENT (${DEFAULT_MAX_CONCURRENT}) handlers per channel`, async () => {
    const { a, b } = await ids()
    const registry = createChannelRegistry({
      localPeer: b,
      limits: { maxPendingHandshakes: 5000, maxPendingHandshakesPerPeer: 5000 },
    })
    let release!: () => void
    const gate = new Promise<void>(r => {
      release = r
    })
    registry.handle('/pnet/busy', () => gate)
    const opens: Promise<unknown>[] = []
    for (let i = 0; i < DEFAULT_MAX_CONCURRENT; i++) {
      const [caller, callee] = memoryStreamPair(a, b)
      registry.accept(callee)
      opens.push(openChannel(caller, '/pnet/busy'))
    }
    await Promise.all(opens)
    const [caller, callee] = memoryStreamPair(a, b)
    registry.accept(callee)
    await expect(openChannel(caller, '/pnet/busy')).rejects.toBeInstanceOf(OverloadedError)
    release()
  })

  it('limits.maxPendingHandshakes and maxPendingHandshakesPerPeer reset streams past them', async () => {
    const { a, b } = await ids()
    const registry = createChannelRegistry({
      localPeer: b,
      limits: { maxPendingHandshakes: 3, maxPendingHandshakesPerPeer: 2 },
    })
    const other = peerIdFromKey(await generateKey())
    const streams: Stream[] = []
    for (const peer of [a, a, a, other, other]) {
      const [, callee] = memoryStreamPair(peer, b)
      registry.accept(callee)
      streams.push(callee)
    }
    // a's third stream is over its per-peer limit; other's second is over the total
    expect(streams.map(s => s.status)).toEqual(['open', 'open', 'aborted', 'open', 'aborted'])
    expect(registry.stats().pendingHandshakes).toBe(3)
  })

  it('limits.handshakeTimeoutMs and protocolStrikes are validated', () => {
    expect(() => resolveChannelLimits({ handshakeTimeoutMs: 0 })).toThrow(
      /limits.handshakeTimeoutMs must be a number >= 1/,
    )
    expect(() => resolveChannelLimits({ protocolStrikes: Number.NaN })).toThrow(/protocolStrikes/)
  })

  it(`REJECT_LINGER_MS (${REJECT_LINGER_MS}): a refused caller that never closes is reset`, async () => {
    const started = Date.now()
    const { ended } = await against(
      [...select('/pnet/v'), lengthPrefixed(hello({ versions: { min: 9, max: 9 } }))],
      r => r.handle('/pnet/v', () => {}),
      true,
    )
    expect(ended).toBe('reset')
    expect(Date.now() - started).toBeGreaterThanOrEqual(REJECT_LINGER_MS - 50)
  })

  it(`REJECT_DRAIN_BYTES (${REJECT_DRAIN_BYTES}): a refused caller that keeps sending is reset at once`, async () => {
    const started = Date.now()
    const { ended } = await against(
      [
        ...select('/pnet/v'),
        lengthPrefixed(hello({ versions: { min: 9, max: 9 } })),
        new Uint8Array(REJECT_DRAIN_BYTES + 1),
      ],
      r => r.handle('/pnet/v', () => {}),
      true,
    )
    expect(ended).toBe('reset')
    expect(Date.now() - started).toBeLessThan(REJECT_LINGER_MS)
  })

  it(`HANDLER_CLOSE_TIMEOUT_MS (${HANDLER_CLOSE_TIMEOUT_MS}): a stream that will not close after its handler is reset`, async () => {
    const { a, b } = await ids()
    const [caller, callee] = memoryStreamPair(a, b)
    let aborted = false
    // the callee's stream, except that close() never finishes
    const stuck: Stream = {
      id: callee.id,
      direction: callee.direction,
      remotePeer: callee.remotePeer,
      labels: callee.labels,
      stats: callee.stats,
      closed: callee.closed,
      get status() {
        return callee.status
      },
      get readStatus() {
        return callee.readStatus
      },
      get writeStatus() {
        return callee.writeStatus
      },
      source: callee.source,
      sink: src => callee.sink(src),
      closeWrite: o => callee.closeWrite(o),
      close: () => new Promise(() => {}),
      abort: err => {
        aborted = true
        callee.abort(err)
      },
    }
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/done', async () => {})
    registry.accept(stuck)
    const ch = await openChannel(caller, '/pnet/done')
    const started = Date.now()
    void ch
    await waitFor(() => aborted, 'the registry to give up closing', 3 * HANDLER_CLOSE_TIMEOUT_MS)
    expect(Date.now() - started).toBeGreaterThanOrEqual(HANDLER_CLOSE_TIMEOUT_MS - 100)
  }, 20_000)
})
