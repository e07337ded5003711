/**
 * @pnet/channel's decoders: header frames (HELLO … REJECT), multistream messages, the length-prefixed frame reader,
 * RPC error bodies, capability tokens, varints.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CapabilityError, decodeCapability, issueCapability } from '@pnet/channel'
import {
  decodeHeaderFrame,
  decodeRemoteError,
  encodeHeaderFrame,
  lengthPrefixed,
  multistreamMessage,
  parseMultistreamMessage,
  readUvarint,
  StreamReader,
  WireError,
} from '@pnet/channel/internal'
import { type FuzzTarget, PropertyViolation } from '../harness.js'
import { split } from '../rng.js'

const isWire = (err: unknown): boolean => err instanceof WireError

const header: FuzzTarget = {
  name: 'channel: header frames',
  expects: 'WireError',
  seeds: async () => [
    encodeHeaderFrame({
      type: 'hello',
      flags: 1,
      versions: { min: 1, max: 3 },
      nonce: new Uint8Array(32).fill(7),
      maxMessageSize: 65536,
      metadata: { trace: 'abc', lang: 'ts' },
      credentials: new Map([
        ['psk', Uint8Array.of(1, 2, 3)],
        ['capability', new Uint8Array(40).fill(9)],
      ]),
    }),
    encodeHeaderFrame({ type: 'challenge', scheme: 'psk', payload: new Uint8Array(32).fill(1) }),
    encodeHeaderFrame({ type: 'proof', scheme: 'psk', answer: new Uint8Array(32).fill(2) }),
    encodeHeaderFrame({ type: 'accept', version: 2, maxMessageSize: 1 << 20, metadata: { a: 'b' } }),
    encodeHeaderFrame({
      type: 'reject',
      code: 'VERSION_UNSUPPORTED',
      reason: 'only v4 … v5 here',
      supported: [
        { min: 4, max: 5 },
        { min: 7, max: 7 },
      ],
    }),
  ],
  run(input) {
    decodeHeaderFrame(input)
  },
  expected: isWire,
}

const multistream: FuzzTarget = {
  name: 'channel: multistream messages',
  expects: 'WireError',
  seeds: async () =>
    ['/multistream/1.0.0', '/pnet/ops/job/1', 'na', '/ipfs/ping/1.0.0'].map(t => multistreamMessage(t).subarray(1)),
  run(input) {
    parseMultistreamMessage(input)
  },
  expected: isWire,
}

async function* chunks(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of pieces) yield p
}

/** The frame reader under every RPC and message stream: frames never exceed the limit, whatever the prefix says. */
const frames: FuzzTarget = {
  name: 'channel: length-prefixed frames',
  expects: 'WireError, FrameTooLargeError',
  seeds: async () => [
    Uint8Array.of(...lengthPrefixed(Uint8Array.of(1, 2, 3)), ...lengthPrefixed(new Uint8Array(200).fill(5))),
    Uint8Array.of(...lengthPrefixed(new Uint8Array(0)), ...lengthPrefixed(Uint8Array.of(0x13, 0, 0, 0))),
  ],
  async run(input, rng) {
    const max = 256
    const reader = new StreamReader(chunks(split(rng, input)))
    let total = 0
    for (let f = await reader.readFrame(max); f !== undefined; f = await reader.readFrame(max)) {
      if (f.byteLength > max) throw new PropertyViolation(`a ${f.byteLength}-byte frame passed the ${max} limit`)
      total += f.byteLength
      if (total > input.byteLength) throw new PropertyViolation('more payload than input')
    }
  },
  expected: isWire,
}

const rpcError: FuzzTarget = {
  name: 'channel: RPC error bodies',
  expects: 'WireError',
  seeds: async () => [
    Uint8Array.of(5, ...new TextEncoder().encode('Error'), 4, ...new TextEncoder().encode('boom'), 0),
    Uint8Array.of(9, ...new TextEncoder().encode('TypeError'), 0, 6, ...new TextEncoder().encode('E_TEST')),
  ],
  run(input) {
    decodeRemoteError(input, '/pnet/fuzz', 'peer')
  },
  expected: isWire,
}

const capability: FuzzTarget = {
  name: 'channel: capability tokens',
  expects: 'CapabilityError',
  seeds: async () => {
    const issuer = await generateKeyPair('Ed25519')
    const subject = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    return [
      await issueCapability({ issuer, subject, channel: '/pnet/ops/exec', claims: { role: 'ops' } }),
      await issueCapability({
        issuer,
        subject,
        channel: '/pnet/x',
        audience: [subject],
        singleUse: true,
        notBefore: 1,
        expires: 2 ** 40,
      }),
    ]
  },
  run(input) {
    decodeCapability(input)
  },
  expected: err => err instanceof CapabilityError,
}

const varint: FuzzTarget = {
  name: 'channel: unsigned varints',
  expects: 'WireError',
  seeds: async () => [Uint8Array.of(0), Uint8Array.of(0xac, 0x02), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)],
  run(input) {
    const r = readUvarint(input, 0)
    if (r !== undefined && (r.bytes > input.byteLength || !Number.isSafeInteger(r.value) || r.value < 0)) {
      throw new PropertyViolation(`decoded ${r.value} from ${r.bytes} bytes`)
    }
  },
  expected: isWire,
}

export const channelTargets: FuzzTarget[] = [header, multistream, frames, rpcError, capability, varint]
