/**
 * Property tests (fast-check) on every decoder: at least 10,000 random and mutated inputs each, in the normal test
 * run. A decoder must either decode or throw its typed error: no other exception, no hang, and no reading (or
 * buffering) past the limit it was given.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey, peerIdFromKey } from '@pnet/network'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { describe, expect, it } from 'vitest'
import { decodeHeaderFrame, encodeHeaderFrame, type HeaderFrame } from '../src/header.js'
import {
  CapabilityError,
  ChannelError,
  createChannelRegistry,
  decodeCapability,
  issueCapability,
  jsonCodec,
  messages,
  openChannel,
} from '../src/index.js'
import { FrameTooLargeError, StreamReader } from '../src/io.js'
import { MULTISTREAM_PROTOCOL, multistreamMessage, parseMultistreamMessage } from '../src/multistream.js'
import { decodeRemoteError, RpcKind } from '../src/rpc.js'
import { lengthPrefixed, readUvarint, WireError } from '../src/wire.js'
import { memoryStreamPair } from './memory-stream.js'

const RUNS = 10_000

/** Valid encodings with random damage: flipped, inserted, deleted, truncated or duplicated bytes. */
function mutated(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  )
  return fc.tuple(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([base, ops]) => {
    let b = Uint8Array.from(base)
    for (const m of ops) {
      const at = b.byteLength === 0 ? 0 : m.at % b.byteLength
      switch (m.op) {
        case 'flip':
          if (b.byteLength > 0) b[at] = b[at]! ^ (1 << m.bit)
          break
        case 'set':
          if (b.byteLength > 0) b[at] = m.value
          break
        case 'insert':
          b = Uint8Array.of(...b.subarray(0, at), ...m.bytes, ...b.subarray(at))
          break
        case 'delete':
          b = Uint8Array.of(...b.subarray(0, at), ...b.subarray(at + m.count))
          break
        case 'truncate':
          b = b.slice(0, at)
          break
        case 'duplicate':
          b = Uint8Array.of(...b.subarray(0, at + m.count), ...b.subarray(at))
          break
      }
    }
    return b
  })
}

const randomBytes = fc.uint8Array({ maxLength: 256 })

function fuzzSync(
  name: string,
  valid: readonly Uint8Array[],
  decode: (b: Uint8Array) => unknown,
  allowed: (e: unknown) => boolean,
) {
  it(`${name}: ${RUNS} random inputs`, () => {
    fc.assert(
      fc.property(randomBytes, bytes => {
        try {
          decode(bytes)
        } catch (err) {
          if (!allowed(err)) throw err
        }
      }),
      { numRuns: RUNS },
    )
  })
  it(`${name}: ${RUNS} mutated valid inputs`, () => {
    for (const v of valid) decode(v) // the seeds themselves decode
    fc.assert(
      fc.property(mutated(valid), bytes => {
        try {
          decode(bytes)
        } catch (err) {
          if (!allowed(err)) throw err
        }
      }),
      { numRuns: RUNS },
    )
  })
}

const isWire = (e: unknown) => e instanceof WireError
const frames: HeaderFrame[] = [
  {
    type: 'hello',
    flags: 1,
    versions: { min: 1, max: 300 },
    nonce: new Uint8Array(32).fill(3),
    maxMessageSize: 65536,
    metadata: { user: 'ada', zone: 'eu' },
    credentials: new Map([
      ['psk', new Uint8Array(0)],
      ['capability', new Uint8Array(40).fill(1)],
    ]),
  },
  { type: 'challenge', scheme: 'psk', payload: new Uint8Array(64).fill(2) },
  { type: 'proof', scheme: 'psk', answer: new Uint8Array(32).fill(4) },
  { type: 'accept', version: 2, maxMessageSize: 1 << 20, metadata: { 'served-by': 'pnet' } },
  {
    type: 'reject',
    code: 'VERSION_UNSUPPORTED',
    reason: 'no',
    supported: [
      { min: 1, max: 3 },
      { min: 9, max: 9 },
    ],
  },
]
const encodedFrames = frames.map(encodeHeaderFrame)

describe('fuzz: synchronous decoders', () => {
  fuzzSync(
    'varint',
    [Uint8Array.of(0xac, 0x02), Uint8Array.of(0x7f), Uint8Array.of(0xff, 0xff, 0x03)],
    b => readUvarint(b),
    isWire,
  )
  fuzzSync(
    'multistream message',
    [multistreamMessage(MULTISTREAM_PROTOCOL).subarray(1), Uint8Array.of(0x6e, 0x61, 0x0a)],
    parseMultistreamMessage,
    isWire,
  )
  fuzzSync(
    'header frame',
    encodedFrames,
    b => {
      const f = decodeHeaderFrame(b)
      // whatever decodes re-encodes to the same bytes: the decoder accepts one form only
      expect(encodeHeaderFrame(f)).toEqual(b)
    },
    isWire,
  )
  fuzzSync(
    'rpc error body',
    [Uint8Array.of(5, 0x45, 0x72, 0x72, 0x6f, 0x72, 2, 0x68, 0x69, 0)],
    b => decodeRemoteError(b, '/pnet/x', 'peer'),
    isWire,
  )
  fuzzSync(
    'json codec',
    [new TextEncoder().encode('{"a":[1,2,{"b":null}]}'), new Uint8Array(0)],
    b => jsonCodec().decode(b),
    e => e instanceof SyntaxError || e instanceof TypeError,
  )

  describe('capability token', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const subject = peerIdFromKey(await generateKey())
    const token = await issueCapability({
      issuer,
      subject,
      channel: '/pnet/ops/*',
      claims: { role: 'op' },
      audience: [subject],
    })
    fuzzSync('capability token', [token], decodeCapability, e => e instanceof CapabilityError)
  })
})

/** A source that yields `bytes` in the given chunk sizes and counts what was pulled. */
function chunked(bytes: Uint8Array, sizes: number[]) {
  let pulled = 0
  async function* gen() {
    let at = 0
    let i = 0
    while (at < bytes.byteLength) {
      const size = Math.max(1, sizes[i++ % Math.max(1, sizes.length)] ?? 1)
      const chunk = bytes.subarray(at, at + size)
      at += chunk.byteLength
      pulled += chunk.byteLength
      yield chunk
    }
  }
  return { source: gen(), pulled: () => pulled }
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 })
const LIMIT = 100

describe('fuzz: stream decoders', () => {
  const validStreams = [
    Uint8Array.of(
      ...lengthPrefixed(new Uint8Array(10).fill(1)),
      ...lengthPrefixed(new Uint8Array(0)),
      ...lengthPrefixed(new Uint8Array(100)),
    ),
    lengthPrefixed(new Uint8Array(99).fill(7)),
  ]
  const kinds = [
    ['random', fc.uint8Array({ maxLength: 512 })],
    ['mutated', mutated(validStreams)],
  ] as const

  it.each(kinds)(
    `handshake frame reader: ${RUNS} %s inputs, never reads past limit + one chunk, agrees with it-length-prefixed`,
    async (_kind, inputs) => {
      await fc.assert(
        fc.asyncProperty(inputs, chunkSizes, async (bytes, sizes) => {
          const src = chunked(bytes, sizes)
          const reader = new StreamReader(src.source)
          const ours: Uint8Array[] = []
          // bytes of the frames handed out (a prefix is 1 byte below 128)
          const consumed = () => ours.reduce((n, x) => n + x.byteLength + 1, 0)
          let error: unknown
          try {
            while (true) {
              const f = await reader.readFrame(LIMIT)
              if (f === undefined) break
              ours.push(f)
              // never more than the frames handed out plus one chunk read ahead
              expect(src.pulled()).toBeLessThanOrEqual(consumed() + 64)
            }
          } catch (err) {
            if (!(err instanceof WireError)) throw err
            error = err
            // a refused prefix stops reading at once: at most the prefix and the chunk it came in
            const bound = err instanceof FrameTooLargeError ? consumed() + 8 + 64 : consumed() + 8 + LIMIT + 64
            expect(src.pulled()).toBeLessThanOrEqual(bound)
          }
          if (error === undefined) {
            // every stream we accept, it-length-prefixed reads the same way
            const theirs: Uint8Array[] = []
            for await (const f of lp.decode([bytes], { maxDataLength: LIMIT })) theirs.push(f.subarray())
            expect(theirs.map(x => [...x])).toEqual(ours.map(x => [...x]))
          }
        }),
        { numRuns: RUNS },
      )
    },
  )

  it.each(kinds)(
    `messages() (it-length-prefixed + strict length): ${RUNS} %s inputs, typed errors only`,
    async (_kind, inputs) => {
      const peer = peerIdFromKey(await generateKey())
      await fc.assert(
        fc.asyncProperty(inputs, chunkSizes, async (bytes, sizes) => {
          const src = chunked(bytes, sizes)
          const stream = { source: src.source, remotePeer: peer, labels: {} } as never
          const m = messages(stream, { maxMessageSize: LIMIT })
          try {
            while ((await m.read()) !== undefined) {}
          } catch (err) {
            if (!(err instanceof ChannelError)) throw err
            expect(['ERR_MESSAGE_TOO_LARGE', 'ERR_PROTOCOL_ERROR']).toContain(err.code)
          }
          expect(src.pulled()).toBeLessThanOrEqual(bytes.byteLength)
        }),
        { numRuns: RUNS },
      )
    },
  )
})

describe('fuzz: whole handshakes', async () => {
  const a = peerIdFromKey(await generateKey())
  const b = peerIdFromKey(await generateKey())
  const hello = lengthPrefixed(encodedFrames[0]!)
  const select = Uint8Array.of(...multistreamMessage(MULTISTREAM_PROTOCOL), ...multistreamMessage('/pnet/f'))
  const callerValid = [
    Uint8Array.of(...select, ...hello),
    Uint8Array.of(...select, ...hello, ...lengthPrefixed(Uint8Array.of(RpcKind.CALL, 0x31))),
    Uint8Array.of(...multistreamMessage(MULTISTREAM_PROTOCOL), ...multistreamMessage('/ipfs/ping/1.0.0'), 1, 2, 3),
  ]
  const calleeValid = [
    Uint8Array.of(...select, ...lengthPrefixed(encodedFrames[3]!)),
    Uint8Array.of(...select, ...lengthPrefixed(encodedFrames[1]!), ...lengthPrefixed(encodedFrames[3]!)),
    Uint8Array.of(...select, ...lengthPrefixed(encodedFrames[4]!)),
  ]

  it.each([
    ['random', fc.uint8Array({ maxLength: 256 })],
    ['mutated', mutated(callerValid)],
  ] as const)(
    `callee: ${RUNS} %s callers end in an outcome, never a crash or a stuck stream`,
    async (_kind, callers) => {
      const registry = createChannelRegistry({
        localPeer: b,
        limits: { maxPendingHandshakes: 100_000, maxPendingHandshakesPerPeer: 100_000 },
      })
      registry.handle('/pnet/f', async s => s.sink(s.source), { versions: [1, 2] })
      registry.handle('/ipfs/ping/1.0.0', async s => s.sink(s.source), { header: false })
      await fc.assert(
        fc.asyncProperty(callers, async bytes => {
          const [caller, callee] = memoryStreamPair(a, b)
          registry.accept(callee)
          // the caller sends its bytes and ends: the callee must come to a decision without a timeout
          await caller.sink([bytes]).catch(() => {})
          const drained = (async () => {
            try {
              for await (const _ of caller.source) {
              }
            } catch {}
          })()
          await drained
          expect(callee.status).not.toBe('open')
        }),
        { numRuns: RUNS },
      )
      const stats = registry.stats()
      expect(stats.pendingHandshakes).toBe(0)
      expect(stats.channels.every(c => c.active === 0)).toBe(true)
    },
  )

  it.each([
    ['random', fc.uint8Array({ maxLength: 256 })],
    ['mutated', mutated(calleeValid)],
  ] as const)(`caller: ${RUNS} %s callees end in a typed error or an open channel`, async (_kind, callees) => {
    await fc.assert(
      fc.asyncProperty(callees, async bytes => {
        const [caller, callee] = memoryStreamPair(a, b)
        void callee.sink([bytes]).catch(() => {})
        try {
          const ch = await openChannel(caller, '/pnet/f', { versions: { min: 1, max: 3 } })
          await ch.stream.close()
        } catch (err) {
          if (!(err instanceof ChannelError)) throw err
        }
      }),
      { numRuns: RUNS },
    )
  })
})
