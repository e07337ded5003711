/**
 * @pnet/network's own decoders: multistream-select for the muxer (both directions), the Noise transport framing
 * (length, ciphertext, tag), yamux frame headers.
 */
import { randomBytes } from 'node:crypto'
import { HandshakeError, ProtocolViolationError } from '@pnet/network'
import {
  encodeHeader,
  FrameDecoder,
  MuxerSelect,
  NoiseChannel,
  NoiseDecryptError,
  type RawIO,
  YamuxType,
} from '@pnet/network/internal'
import { type FuzzTarget, PropertyViolation } from '../harness.js'
import { split } from '../rng.js'

const enc = new TextEncoder()

function msg(line: string): Uint8Array {
  const body = enc.encode(`${line}\n`)
  return Uint8Array.of(body.byteLength, ...body)
}

const YAMUX = '/yamux/1.0.0'

function muxerSelect(direction: 'inbound' | 'outbound'): FuzzTarget {
  return {
    name: `network: multistream-select (muxer, ${direction === 'inbound' ? 'listener' : 'dialer'})`,
    expects: 'HandshakeError',
    seeds: async () => [
      Uint8Array.of(...msg('/multistream/1.0.0'), ...msg(YAMUX)),
      Uint8Array.of(...msg('/multistream/1.0.0'), ...msg(YAMUX), ...encodeHeader(YamuxType.Ping, 1, 0, 7)),
      // a listener's dialer may propose others first; a dialer hears only the answer
      ...(direction === 'inbound'
        ? [Uint8Array.of(...msg('/multistream/1.0.0'), ...msg('/mplex/6.7.0'), ...msg(YAMUX), 0, 1, 2)]
        : []),
    ],
    run(input, rng) {
      let failure: Error | undefined
      let written = 0
      const count = (b: Uint8Array): void => {
        written += b.byteLength
      }
      const sel = new MuxerSelect(YAMUX, direction, count, 'fuzz')
      sel.fail = (err: Error): void => {
        failure ??= err
        MuxerSelect.prototype.fail.call(sel, err)
      }
      for (const piece of split(rng, input)) sel.feed([piece])
      // answers are bounded by the proposals it accepts (16 `na`s), whatever the input
      if (written > 4096) throw new PropertyViolation(`wrote ${written} bytes in answer to ${input.byteLength}`)
      if (failure !== undefined) throw failure
    },
    expected: err => err instanceof HandshakeError,
  }
}

/** yamux frame decoder: data pieces never exceed the declared length or the frame limit. */
const yamux: FuzzTarget = {
  name: 'network: yamux frames',
  expects: 'ProtocolViolationError',
  seeds: async () => [
    Uint8Array.of(...encodeHeader(YamuxType.Data, 1, 1, 5), 1, 2, 3, 4, 5),
    Uint8Array.of(...encodeHeader(YamuxType.WindowUpdate, 2, 1, 65536), ...encodeHeader(YamuxType.Ping, 1, 0, 9)),
    Uint8Array.of(...encodeHeader(YamuxType.Data, 4, 3, 0), ...encodeHeader(YamuxType.GoAway, 0, 0, 0)),
  ],
  run(input, rng) {
    const max = 256
    let current = 0
    const d = new FrameDecoder(
      {
        header: h => {
          if (h.type === YamuxType.Data && h.length > max)
            throw new PropertyViolation(`a ${h.length}-byte frame passed`)
          current = 0
        },
        data: (_id, piece) => {
          current += piece.byteLength
          if (current > max) throw new PropertyViolation(`${current} data bytes in one frame`)
        },
      },
      'fuzz',
      max,
    )
    for (const piece of split(rng, input)) d.push(piece)
  },
  expected: err => err instanceof ProtocolViolationError,
}

function fakeIo(out: Uint8Array[]): RawIO {
  return {
    write: pieces => {
      for (const p of pieces) out.push(Uint8Array.from(p))
      return true
    },
  } as Partial<RawIO> as RawIO
}

const noiseKey = randomBytes(32)
const noisePlain = randomBytes(3000)

/**
 * Noise transport messages with damage: the receiver must reject (NoiseDecryptError) and must never deliver a
 * byte that was not sent — the property end-to-end integrity rests on.
 */
const noise: FuzzTarget = {
  name: 'network: noise transport frames',
  expects: 'NoiseDecryptError',
  seeds: async () => {
    const wire: Uint8Array[] = []
    const tx = new NoiseChannel({
      io: fakeIo(wire),
      sendKey: noiseKey,
      recvKey: noiseKey,
      onPlaintext: () => {},
      onError: () => {},
    })
    // small (WebAssembly cipher) and large (node:crypto) messages
    for (const n of [1, 100, 1500, 399]) {
      tx.write(noisePlain.subarray(0, n))
      tx.flush()
    }
    const all = Buffer.concat(wire)
    return [all, all.subarray(0, 2 + 1 + 16)]
  },
  run(input, rng) {
    const got: Uint8Array[] = []
    let error: Error | undefined
    const rx = new NoiseChannel({
      io: fakeIo([]),
      sendKey: noiseKey,
      recvKey: noiseKey,
      onPlaintext: pieces => {
        for (const p of pieces) got.push(Uint8Array.from(p))
      },
      onError: err => {
        error ??= err
      },
    })
    for (const piece of split(rng, input)) rx.receive(piece)
    // what was delivered is the sender's messages in order: 1, 100, 1500, 399 bytes of noisePlain each
    const expect = [1, 100, 1500, 399].map(n => noisePlain.subarray(0, n))
    const delivered = Buffer.concat(got)
    const sent = Buffer.concat(expect)
    if (!sent.subarray(0, delivered.byteLength).equals(delivered)) {
      throw new PropertyViolation('delivered plaintext that was not sent (forged or corrupted bytes passed)')
    }
    if (error !== undefined) throw error
  },
  expected: err => err instanceof NoiseDecryptError,
}

export const networkTargets: FuzzTarget[] = [muxerSelect('inbound'), muxerSelect('outbound'), yamux, noise]
