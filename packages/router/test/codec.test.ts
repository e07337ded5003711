import fc from 'fast-check'
import { decode as lpDecode, encode as lpEncode } from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import {
  answerKind,
  BROADCAST_OUTCOMES,
  type BroadcastOutcome,
  decodeBroadcast,
  decodeReply,
  decodeReport,
  encodeBroadcast,
  encodeReply,
  encodeReport,
} from '../src/broadcast-codec.js'
import { ControlDecoder, ControlEncoder, ENTRY_BIND, MSG_PING, MSG_UPDATE } from '../src/control-codec.js'
import { MalformedMessageError } from '../src/errors.js'
import { FrameReader, lengthPrefixed, readFrame } from '../src/frame-io.js'
import { INFINITY_METRIC, MAX_RELAY_REASON_BYTES } from '../src/limits.js'
import type { ControlMessage, RouteUpdate } from '../src/messages.js'
import { peerKeyFromBytes } from '../src/peer-key.js'
import {
  decodeRelayOpen,
  decodeRelayStatus,
  encodeRelayOpen,
  encodeRelayStatus,
  MAX_RELAY_FRAME_BYTES,
  RELAY_STATUS_CODES,
} from '../src/relay-codec.js'
import { seqnoAtLeast, seqnoNewer } from '../src/seqno.js'
import { fakePeerBytes, peerKeys } from './helpers.js'

const keys = Array.from({ length: 64 }, (_, i) => peerKeyFromBytes(fakePeerBytes(i + 1)))

const entryArb = fc.record({
  dest: fc.integer({ min: 0, max: keys.length - 1 }),
  seqno: fc.integer({ min: 0, max: 0xffff }),
  metric: fc.oneof(fc.integer({ min: 0, max: INFINITY_METRIC - 1 }), fc.constant(INFINITY_METRIC)),
  hops: fc.integer({ min: 0, max: 0xfffe }),
})

function update(entries: { dest: number; seqno: number; metric: number; hops: number }[]): RouteUpdate[] {
  return entries.map(e => ({
    dest: keys[e.dest]!,
    index: e.dest + 1,
    gen: 1,
    seqno: e.seqno,
    metric: e.metric,
    hops: e.metric === INFINITY_METRIC ? 0 : e.hops,
  }))
}

describe('control codec', () => {
  it('round-trips every message type, frame after frame, with bindings sent once per link', () => {
    fc.assert(
      fc.property(fc.array(fc.array(entryArb, { maxLength: 20 }), { maxLength: 8 }), batches => {
        const enc = new ControlEncoder()
        const dec = new ControlDecoder()
        const bound = new Set<number>()
        for (const batch of batches) {
          const entries = update(batch)
          const msg: ControlMessage = { type: 'update', fullStart: true, fullEnd: false, entries }
          const frame = enc.encode(msg)
          // retractions of destinations never mentioned on the link are dropped: the far end cannot hold them
          const expected = entries.filter(e => {
            if (e.metric >= INFINITY_METRIC && !bound.has(e.index)) return false
            bound.add(e.index)
            return true
          })
          const out = dec.decode(frame!)
          expect(out).toMatchObject({ type: 'update', fullStart: true, fullEnd: false })
          const got = (out as { entries: RouteUpdate[] }).entries
          expect(got.map(e => [e.dest.key, e.seqno, e.metric, e.hops])).toEqual(
            expected.map(e => [e.dest.key, e.seqno, e.metric, e.hops]),
          )
        }
      }),
    )
    const enc = new ControlEncoder()
    const dec = new ControlDecoder()
    const others: ControlMessage[] = [
      { type: 'route-request' },
      { type: 'seqno-request', dest: keys[3]!, seqno: 65535, hopCount: 300 },
      { type: 'digest', count: 12, h1: 0xdeadbeef, h2: 7 },
      { type: 'ping', nonce: 0xffffffff },
      { type: 'pong', nonce: 1 },
    ]
    for (const msg of others) expect(dec.decode(enc.encode(msg)!)).toEqual(msg)
  })

  it('compresses: a known destination costs 8–10 bytes, its first mention carries the peer ID', () => {
    const enc = new ControlEncoder()
    const entries = update([{ dest: 1, seqno: 5, metric: 3, hops: 3 }])
    const first = enc.encode({ type: 'update', fullStart: false, fullEnd: false, entries })!
    const second = enc.encode({ type: 'update', fullStart: false, fullEnd: false, entries })!
    expect(first.byteLength).toBe(3 + 1 + 1 + 1 + 38 + 6)
    expect(second.byteLength).toBe(3 + 1 + 1 + 6)
    // a reused slot (new generation) is bound again
    const reused = enc.encode({
      type: 'update',
      fullStart: false,
      fullEnd: false,
      entries: [{ ...entries[0]!, gen: 2 }],
    })!
    expect(reused.byteLength).toBe(first.byteLength)
  })

  it('lays out entries byte by byte as specified, with multi-byte varints as uint8-varint writes them', () => {
    const enc = new ControlEncoder()
    const dest = keys[2]!
    const entries: RouteUpdate[] = [
      { dest, index: 300, gen: 1, seqno: 0xbeef, metric: 0x1234, hops: 0x0102 },
      { dest: keys[3]!, index: 70_000, gen: 1, seqno: 7, metric: 1, hops: 1 },
    ]
    enc.encode({ type: 'update', fullStart: false, fullEnd: false, entries: [entries[1]!] })
    const retract = { ...entries[1]!, metric: INFINITY_METRIC, hops: 0 }
    const frame = enc.encode({ type: 'update', fullStart: true, fullEnd: false, entries: [entries[0]!, retract] })!
    const expected = [
      MSG_UPDATE,
      0x01, // FULL_START
      ...varint.encode(2),
      ENTRY_BIND,
      ...varint.encode(300),
      ...varint.encode(dest.bytes.byteLength),
      ...dest.bytes,
      0xbe,
      0xef,
      0x12,
      0x34,
      0x01,
      0x02,
      0x02, // RETRACT, already bound: index and seqno only
      ...varint.encode(70_000),
      0x00,
      0x07,
    ]
    expect([...frame]).toEqual(expected)
    const dec = new ControlDecoder()
    dec.decode(
      new ControlEncoder().encode({ type: 'update', fullStart: false, fullEnd: false, entries: [entries[1]!] })!,
    )
    expect(dec.decode(frame)).toMatchObject({
      entries: [
        { dest, index: 300, seqno: 0xbeef, metric: 0x1234, hops: 0x0102 },
        { dest: keys[3], index: 70_000, seqno: 7, metric: INFINITY_METRIC },
      ],
    })
  })

  it('returns nothing for an update made only of retractions the far end never heard of', () => {
    const enc = new ControlEncoder()
    const entries = update([{ dest: 1, seqno: 5, metric: INFINITY_METRIC, hops: 0 }])
    expect(enc.encode({ type: 'update', fullStart: false, fullEnd: false, entries })).toBeUndefined()
    expect(enc.encode({ type: 'update', fullStart: true, fullEnd: true, entries })).toBeDefined()
  })

  it('ignores unknown frame types (extensions) and rejects malformed frames with a named field', () => {
    const dec = new ControlDecoder()
    expect(dec.decode(Uint8Array.of(0x7f, 1, 2, 3))).toBeUndefined()
    const bad: [Uint8Array, RegExp][] = [
      [Uint8Array.of(MSG_PING, 0, 0), /truncated at nonce/],
      [Uint8Array.of(MSG_PING, 0, 0, 0, 0, 9), /1 trailing bytes/],
      [Uint8Array.of(MSG_UPDATE, 0x80, 0), /unknown update flags/],
      [Uint8Array.of(MSG_UPDATE, 0, 1, 0, 5, 0, 1, 0, 1, 0, 1), /index 5 was never bound/],
      [Uint8Array.of(MSG_UPDATE, 0, 1, 0x10, 0, 0, 1, 0, 1, 0, 1), /unknown entry flags/],
      [Uint8Array.of(MSG_UPDATE, 0, 1, ENTRY_BIND, 0, 3, 1, 2, 3, 0, 1, 0, 1, 0, 1), /destination|peer ID/],
      [Uint8Array.of(MSG_UPDATE, 0, 0x80, 0x00), /non-minimal varint|entry count/],
      [Uint8Array.of(MSG_UPDATE, 0, 100), /entry count is 100, more than 0/],
    ]
    for (const [frame, message] of bad) {
      const err = (() => {
        try {
          dec.decode(frame)
        } catch (e) {
          return e as Error
        }
        return undefined
      })()
      expect(err, `frame ${Buffer.from(frame).toString('hex')}`).toBeInstanceOf(MalformedMessageError)
      expect(err?.message).toMatch(message)
    }
  })

  it('refuses an infinite metric that is not flagged as a retraction', () => {
    const id = fakePeerBytes(9)
    const frame = Uint8Array.of(MSG_UPDATE, 0, 1, ENTRY_BIND, 0, id.byteLength, ...id, 0, 1, 0xff, 0xff, 0, 0)
    expect(() => new ControlDecoder().decode(frame)).toThrow(/infinite metric without RETRACT/)
  })
})

describe('relay codec', () => {
  it('round-trips OPEN and every STATUS code', async () => {
    const [a, b] = await peerKeys(2)
    const open = decodeRelayOpen(encodeRelayOpen({ source: a!, destination: b!, hopLimit: 513 }))
    expect([open.source.key, open.destination.key, open.hopLimit]).toEqual([a!.key, b!.key, 513])
    for (const code of Object.keys(RELAY_STATUS_CODES) as (keyof typeof RELAY_STATUS_CODES)[]) {
      const s = decodeRelayStatus(encodeRelayStatus({ code, by: b!, reason: `because ${code}` }))
      expect([s.code, s.by.key, s.reason]).toEqual([code, b!.key, `because ${code}`])
    }
  })

  it('keeps reasons whole up to MAX_RELAY_REASON_BYTES, cuts longer ones at a word with …, rejects unknown codes', async () => {
    const [a] = await peerKeys(1)
    const status = (reason: string) => decodeRelayStatus(encodeRelayStatus({ code: 'NO_ROUTE', by: a!, reason }))
    const whole = 'word '.repeat(MAX_RELAY_REASON_BYTES / 5).trimEnd()
    expect(status(whole).reason).toBe(whole)
    const long = `${whole} overflowing`
    const cut = status(long).reason
    expect(cut.endsWith('word…')).toBe(true)
    expect(long.startsWith(cut.slice(0, -1))).toBe(true)
    expect(new TextEncoder().encode(cut).byteLength).toBeLessThanOrEqual(MAX_RELAY_REASON_BYTES)
    // no space to cut at: at a character boundary, still with the mark
    const e = status('é'.repeat(MAX_RELAY_REASON_BYTES)).reason
    expect(e).toBe(`${'é'.repeat((MAX_RELAY_REASON_BYTES - 3) >> 1)}…`)
    // the longest STATUS fits in a frame
    const longestPeer = encodeRelayStatus({ code: 'NO_ROUTE', by: a!, reason: long })
    expect(longestPeer.byteLength).toBeLessThanOrEqual(MAX_RELAY_FRAME_BYTES)
    const frame = encodeRelayStatus({ code: 'OK', by: a!, reason: '' })
    frame[1] = 99
    expect(() => decodeRelayStatus(frame)).toThrow(/unknown code 99/)
    expect(() => decodeRelayOpen(frame)).toThrow(MalformedMessageError)
  })
})

describe('broadcast codec', () => {
  it('round-trips a message and a report', () => {
    const msg = {
      id: new Uint8Array(16).fill(7),
      origin: keys[0]!,
      channel: '/ops/run',
      hopLimit: 9,
      hops: 2,
      deadlineMs: 12_345,
      targets: keys.slice(1, 6),
      payload: new TextEncoder().encode('uptime'),
    }
    const back = decodeBroadcast(encodeBroadcast(msg), 10, 100)
    expect({ ...back, origin: back.origin.key, targets: back.targets.map(t => t.key) }).toEqual({
      ...msg,
      origin: msg.origin.key,
      targets: msg.targets.map(t => t.key),
    })
    const outcomes = Object.keys(BROADCAST_OUTCOMES) as BroadcastOutcome[]
    const entries = outcomes.map((outcome, index) => ({ index, outcome, reason: outcome === 'DELIVERED' ? '' : 'x' }))
    expect(decodeReport(encodeReport(entries), outcomes.length)).toEqual(entries)
  })

  it('enforces the target and payload limits and rejects double or out-of-range reports', () => {
    const msg = {
      id: new Uint8Array(16),
      origin: keys[0]!,
      channel: 'c',
      hopLimit: 1,
      hops: 0,
      deadlineMs: 1,
      targets: keys.slice(0, 5),
      payload: new Uint8Array(50),
    }
    expect(() => decodeBroadcast(encodeBroadcast(msg), 4, 100)).toThrow(/target count is 5, more than 4/)
    expect(() => decodeBroadcast(encodeBroadcast(msg), 10, 49)).toThrow(/payload length is 50, more than 49/)
    const twice = encodeReport([
      { index: 1, outcome: 'DELIVERED', reason: '' },
      { index: 1, outcome: 'DELIVERED', reason: '' },
    ])
    expect(() => decodeReport(twice, 3)).toThrow(/target 1 reported twice/)
    expect(() => decodeReport(encodeReport([{ index: 3, outcome: 'DELIVERED', reason: '' }]), 3)).toThrow(/index is 3/)
  })

  it('round-trips replies, tells them from reports, and rejects out-of-range or oversized ones', () => {
    fc.assert(
      fc.property(fc.nat(999), fc.uint8Array({ maxLength: 300 }), (index, payload) => {
        const frame = encodeReply({ index, payload })
        expect(answerKind(frame)).toBe(0x03)
        expect(decodeReply(frame, 1000, 300)).toEqual({ index, payload })
      }),
      { numRuns: 100 },
    )
    expect(answerKind(encodeReport([]))).toBe(0x02)
    expect(() => answerKind(Uint8Array.of(0x01))).toThrow(/kind 0x1 \(expected a REPLY or a REPORT\)/)
    expect(() => answerKind(new Uint8Array(0))).toThrow(/empty frame/)
    const reply = encodeReply({ index: 4, payload: new Uint8Array(10) })
    expect(() => decodeReply(reply, 4, 100)).toThrow(/index is 4/)
    expect(() => decodeReply(reply, 5, 9)).toThrow(/payload length is 10, more than 9/)
    expect(() => decodeReply(reply, 0, 100)).toThrow(/without targets/)
  })
})

describe('frame-io', () => {
  it('is wire-compatible with it-length-prefixed both ways', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 50 }), async (payload, tail) => {
        // ours → library
        const decoded: Uint8Array[] = []
        for await (const f of lpDecode([lengthPrefixed(payload)])) decoded.push(f.subarray())
        expect(decoded).toEqual([payload])
        // library → ours, split at every byte, with bytes after the frame preserved
        const wire = new Uint8ArrayList(lpEncode.single(payload), tail).subarray()
        const chunks = [...wire].map(b => Uint8Array.of(b))
        const { frame, rest } = await readFrame(
          (async function* () {
            yield* chunks
          })(),
          1024,
          'test',
        )
        expect(frame).toEqual(payload)
        const after: number[] = []
        for await (const c of rest) after.push(...c)
        expect(Uint8Array.from(after)).toEqual(tail)
      }),
      { numRuns: 50 },
    )
  })

  it('refuses an oversized frame from its prefix alone, and a stream that ends inside a frame', async () => {
    const source = (chunks: Uint8Array[]) =>
      (async function* () {
        yield* chunks
      })()
    await expect(readFrame(source([Uint8Array.of(0x81, 0x08)]), 1000, 'test')).rejects.toThrow(
      /frame of 1025 bytes, over the limit of 1000/,
    )
    await expect(readFrame(source([Uint8Array.of(5, 1, 2)]), 10, 'test')).rejects.toThrow(/ended inside the frame/)
    await expect(readFrame(source([Uint8Array.of(0x80, 0x00)]), 10, 'test')).rejects.toThrow(/non-minimal/)
    expect((await readFrame(source([]), 10, 'test')).frame).toBeUndefined()
  })
})

describe('seqno arithmetic', () => {
  it('compares modulo 2^16 (RFC 8966 §3.2.1)', () => {
    expect(seqnoNewer(1, 0)).toBe(true)
    expect(seqnoNewer(0, 0xffff)).toBe(true)
    expect(seqnoNewer(0x8000, 0)).toBe(false)
    expect(seqnoNewer(0x7fff, 0)).toBe(true)
    expect(seqnoAtLeast(5, 5)).toBe(true)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0x7fff }), (a, d) => {
        expect(seqnoNewer((a + d) & 0xffff, a)).toBe(true)
        expect(seqnoNewer(a, (a + d) & 0xffff)).toBe(false)
      }),
    )
  })
})

describe('FrameReader', () => {
  it('reads frame after frame across arbitrary chunk boundaries and ends cleanly between frames', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.nat(5),
        async (frames, cut) => {
          const wire = Uint8Array.from(frames.flatMap(f => [...lengthPrefixed(f)]))
          const step = cut + 1
          const reader = new FrameReader(
            (async function* () {
              for (let at = 0; at < wire.byteLength; at += step) yield wire.subarray(at, at + step)
            })(),
          )
          const got: Uint8Array[] = []
          for (let f = await reader.next(300, 't'); f !== undefined; f = await reader.next(300, 't')) got.push(f)
          expect(got).toEqual(frames)
        },
      ),
      { numRuns: 100 },
    )
    const reader = new FrameReader(
      (async function* () {
        yield Uint8Array.of(2, 1, 2, 0x81, 0x08)
      })(),
    )
    expect(await reader.next(10, 't')).toEqual(Uint8Array.of(1, 2))
    await expect(reader.next(1000, 't')).rejects.toThrow(/frame of 1025 bytes, over the limit of 1000/)
  })
})
