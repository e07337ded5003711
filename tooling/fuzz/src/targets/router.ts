/**
 * @pnet/router's decoders: control messages (route updates with per-link index tables), relay OPEN and STATUS,
 * broadcast messages and delivery reports, and the frame reader in front of relay and broadcast streams.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  decodeRelayOpen,
  decodeRelayStatus,
  encodeRelayOpen,
  encodeRelayStatus,
  MalformedMessageError,
} from '@pnet/router'
import {
  ControlDecoder,
  ControlEncoder,
  type ControlMessage,
  decodeBroadcast,
  decodeReport,
  encodeBroadcast,
  encodeReport,
  lengthPrefixed,
  type PeerKey,
  peerKeyOf,
  readFrame,
} from '@pnet/router/internal'
import { type FuzzTarget, PropertyViolation } from '../harness.js'
import { split } from '../rng.js'

const malformed = (err: unknown): boolean => err instanceof MalformedMessageError

async function keys(n: number): Promise<PeerKey[]> {
  const out: PeerKey[] = []
  for (let i = 0; i < n; i++) out.push(peerKeyOf(peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  return out
}

let peers: PeerKey[] | undefined
async function somePeers(): Promise<PeerKey[]> {
  peers ??= await keys(4)
  return peers
}

let controlPrefix: Uint8Array[] = []

const control: FuzzTarget = {
  name: 'router: control messages (route updates)',
  expects: 'MalformedMessageError',
  seeds: async () => {
    const [a, b, c] = await somePeers()
    const e = new ControlEncoder()
    const msgs: ControlMessage[] = [
      {
        type: 'update',
        fullStart: true,
        fullEnd: false,
        entries: [
          { dest: a!, index: 0, gen: 0, seqno: 3, metric: 1, hops: 1 },
          { dest: b!, index: 1, gen: 0, seqno: 9, metric: 2, hops: 2 },
        ],
      },
      {
        type: 'update',
        fullStart: false,
        fullEnd: true,
        entries: [
          { dest: a!, index: 0, gen: 0, seqno: 4, metric: 0xffff, hops: 0 },
          { dest: c!, index: 2, gen: 0, seqno: 1, metric: 3, hops: 3 },
        ],
      },
      { type: 'route-request' },
      { type: 'seqno-request', dest: b!, seqno: 10, hopCount: 5 },
      { type: 'digest', count: 3, h1: 0xdeadbeef, h2: 7 },
      { type: 'ping', nonce: 42 },
      { type: 'pong', nonce: 42 },
    ]
    const frames = msgs.map(m => e.encode(m)).filter((f): f is Uint8Array => f !== undefined)
    // later frames refer to indexes the first bound: the decoder under test has seen it
    controlPrefix = frames.slice(0, 1)
    return frames
  },
  run(input) {
    const d = new ControlDecoder()
    for (const f of controlPrefix) d.decode(f)
    const m = d.decode(input)
    if (m?.type === 'update' && m.entries.length * 4 > input.byteLength) {
      throw new PropertyViolation(`${m.entries.length} entries from ${input.byteLength} bytes`)
    }
  },
  expected: malformed,
}

const relayOpen: FuzzTarget = {
  name: 'router: relay OPEN',
  expects: 'MalformedMessageError',
  seeds: async () => {
    const [a, b] = await somePeers()
    return [encodeRelayOpen({ source: a!, destination: b!, hopLimit: 16 })]
  },
  run(input) {
    decodeRelayOpen(input)
  },
  expected: malformed,
}

const relayStatus: FuzzTarget = {
  name: 'router: relay STATUS',
  expects: 'MalformedMessageError',
  seeds: async () => {
    const [a] = await somePeers()
    return [
      encodeRelayStatus({ code: 'OK', by: a!, reason: '' }),
      encodeRelayStatus({ code: 'NO_ROUTE', by: a!, reason: 'no route to 12D3KooW…' }),
    ]
  },
  run(input) {
    decodeRelayStatus(input)
  },
  expected: malformed,
}

const MAX_TARGETS = 16
const MAX_PAYLOAD = 1024

const broadcast: FuzzTarget = {
  name: 'router: broadcast messages',
  expects: 'MalformedMessageError',
  seeds: async () => {
    const [a, b, c, d] = await somePeers()
    return [
      encodeBroadcast({
        id: new Uint8Array(16).fill(3),
        origin: a!,
        channel: '/pnet/ops/job/1',
        hopLimit: 32,
        hops: 1,
        deadlineMs: 30_000,
        targets: [b!, c!, d!],
        payload: new TextEncoder().encode('{"job":"x"}'),
      }),
    ]
  },
  run(input) {
    const f = decodeBroadcast(input, MAX_TARGETS, MAX_PAYLOAD)
    if (f.targets.length > MAX_TARGETS || f.payload.byteLength > MAX_PAYLOAD) {
      throw new PropertyViolation('a frame over its limits was decoded')
    }
  },
  expected: malformed,
}

const report: FuzzTarget = {
  name: 'router: broadcast delivery reports',
  expects: 'MalformedMessageError',
  seeds: async () => [
    encodeReport([
      { index: 0, outcome: 'DELIVERED', reason: '' },
      { index: 2, outcome: 'NO_ROUTE', reason: 'no route' },
    ]),
    encodeReport([]),
  ],
  run(input) {
    const entries = decodeReport(input, 8)
    if (new Set(entries.map(e => e.index)).size !== entries.length || entries.some(e => e.index >= 8)) {
      throw new PropertyViolation('duplicate or out-of-range report index')
    }
  },
  expected: malformed,
}

async function* chunks(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of pieces) yield p
}

const frameHead: FuzzTarget = {
  name: 'router: stream head frames (relay, broadcast)',
  expects: 'MalformedMessageError',
  seeds: async () => [
    Uint8Array.of(...lengthPrefixed(Uint8Array.of(1, 2, 3)), 9, 9, 9),
    lengthPrefixed(new Uint8Array(0)),
  ],
  async run(input, rng) {
    const max = 512
    const { frame, rest } = await readFrame(chunks(split(rng, input)), max, 'fuzz frame')
    if (frame !== undefined && frame.byteLength > max) throw new PropertyViolation(`a ${frame.byteLength}-byte frame`)
    let after = 0
    for await (const c of rest) after += c.byteLength
    if ((frame?.byteLength ?? 0) + after > input.byteLength) throw new PropertyViolation('bytes appeared from nowhere')
  },
  expected: malformed,
}

export const routerTargets: FuzzTarget[] = [control, relayOpen, relayStatus, broadcast, report, frameHead]
