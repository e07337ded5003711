import * as lp from 'it-length-prefixed'
import { describe, expect, it } from 'vitest'
import { decodeHeaderFrame, encodeHeaderFrame, type HeaderFrame } from '../src/header.js'
import { MAX_VERSION, NONCE_BYTES } from '../src/limits.js'
import { checkMetadata } from '../src/metadata.js'
import { checkChannelName, multistreamMessage, parseMultistreamMessage } from '../src/multistream.js'
import { chooseVersion, normalizeVersions, offerRange } from '../src/versions.js'
import { lengthPrefixed, readUvarint, truncateUtf8, WireError } from '../src/wire.js'

const hello: HeaderFrame = {
  type: 'hello',
  flags: 1,
  versions: { min: 2, max: 7 },
  nonce: new Uint8Array(NONCE_BYTES).fill(9),
  maxMessageSize: 4096,
  metadata: { role: 'web', zone: 'eu-1' },
  credentials: new Map([
    ['psk', new Uint8Array(0)],
    ['capability', new Uint8Array([1, 2, 3])],
  ]),
}

describe('header frames', () => {
  it('round-trip every frame type', () => {
    const frames: HeaderFrame[] = [
      hello,
      { type: 'challenge', scheme: 'psk', payload: new Uint8Array([5, 6]) },
      { type: 'proof', scheme: 'psk', answer: new Uint8Array(32).fill(1) },
      { type: 'accept', version: 3, maxMessageSize: 1 << 20, metadata: { server: 'pnet' } },
      { type: 'reject', code: 'VERSION_UNSUPPORTED', reason: 'no common version', supported: [{ min: 1, max: 2 }] },
    ]
    for (const f of frames) expect(decodeHeaderFrame(encodeHeaderFrame(f))).toEqual(f)
  })

  it('encodes HELLO byte by byte as docs/protocol/channel.md says', () => {
    const bytes = encodeHeaderFrame({
      type: 'hello',
      flags: 0,
      versions: { min: 1, max: 300 },
      nonce: new Uint8Array(32),
      maxMessageSize: 0,
      metadata: { a: 'b' },
      credentials: new Map(),
    })
    expect([...bytes.subarray(0, 7)]).toEqual([0x01, 0x01, 0x00, 0x01, 0xac, 0x02, 0x20])
    expect([...bytes.subarray(39)]).toEqual([0x00, 0x01, 0x01, 0x61, 0x01, 0x62, 0x00])
  })

  it('refuses trailing bytes, unknown types, flags, header versions and reject codes', () => {
    const good = encodeHeaderFrame(hello)
    expect(() => decodeHeaderFrame(Uint8Array.of(...good, 0))).toThrow(/unexpected bytes after HELLO/)
    expect(() => decodeHeaderFrame(Uint8Array.of(0x09))).toThrow(/unknown header frame type 0x09/)
    expect(() => decodeHeaderFrame(Uint8Array.of(0x01, 0x02))).toThrow(/unsupported header version 2/)
    const flags = good.slice()
    flags[2] = 0x80
    expect(() => decodeHeaderFrame(flags)).toThrow(/unknown HELLO flags/)
    expect(() => decodeHeaderFrame(Uint8Array.of(0x05, 0x07, 0x00, 0x00))).toThrow(/unknown reject code 7/)
  })

  it('refuses versions out of range and inverted ranges', () => {
    const w = (min: number, max: number) =>
      encodeHeaderFrame({ ...(hello as Extract<HeaderFrame, { type: 'hello' }>), versions: { min, max } })
    expect(() => decodeHeaderFrame(w(5, 4))).toThrow(/min 5 is above max 4/)
    expect(() => decodeHeaderFrame(w(0, 4))).toThrow(/versions start at 1/)
    expect(() => decodeHeaderFrame(w(1, MAX_VERSION + 1))).toThrow(/above the limit of 65535/)
  })

  it('refuses duplicate metadata keys and credential schemes', () => {
    // HELLO with metadata {a:1, a:2}: built by hand since the encoder cannot produce it
    const base = encodeHeaderFrame({
      ...(hello as Extract<HeaderFrame, { type: 'hello' }>),
      metadata: {},
      credentials: new Map(),
    })
    const dup = Uint8Array.of(...base.subarray(0, base.byteLength - 2), 2, 1, 0x61, 1, 0x31, 1, 0x61, 1, 0x32, 0)
    expect(() => decodeHeaderFrame(dup)).toThrow(/appears twice/)
  })
})

describe('varints', () => {
  it('decodes minimal varints and says when more bytes are needed', () => {
    expect(readUvarint(Uint8Array.of(0xac, 0x02))).toEqual({ value: 300, bytes: 2 })
    expect(readUvarint(Uint8Array.of(0xac))).toBeUndefined()
  })
  it('refuses non-minimal, overlong and unsafe varints', () => {
    expect(() => readUvarint(Uint8Array.of(0x80, 0x00))).toThrow(WireError)
    expect(() => readUvarint(new Uint8Array(9).fill(0xff))).toThrow(/longer than 8 bytes/)
    expect(() => readUvarint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))).toThrow(/2\^53/)
  })
  it('frames exactly like it-length-prefixed', () => {
    for (const size of [0, 1, 127, 128, 300, 70_000]) {
      const payload = new Uint8Array(size).fill(7)
      expect(lengthPrefixed(payload)).toEqual(lp.encode.single(payload).subarray())
    }
  })
})

describe('multistream messages', () => {
  it('encodes as varint length + text + newline', () => {
    expect([...multistreamMessage('na')]).toEqual([3, 0x6e, 0x61, 0x0a])
    expect(parseMultistreamMessage(Uint8Array.of(0x6e, 0x61, 0x0a))).toBe('na')
  })
  it('refuses messages without the newline or with bad UTF-8', () => {
    expect(() => parseMultistreamMessage(Uint8Array.of(0x6e, 0x61))).toThrow(/newline/)
    expect(() => parseMultistreamMessage(Uint8Array.of(0xff, 0x0a))).toThrow(/UTF-8/)
  })
  it('accepts only protocol IDs as channel names', () => {
    expect(checkChannelName('/pnet/echo')).toBe('/pnet/echo')
    expect(() => checkChannelName('echo')).toThrow(/starting with "\/"/)
    expect(() => checkChannelName('/a\nb')).toThrow(/control character/)
    expect(() => checkChannelName(`/${'x'.repeat(1023)}`)).toThrow(/longer than 1023 bytes/)
    expect(() => checkChannelName('/multistream/1.0.0')).toThrow(/cannot be a channel/)
  })
})

describe('versions', () => {
  it('merges a callee spec and picks the highest common version', () => {
    const spec = normalizeVersions([3, 1, 2, { min: 7, max: 9 }, 8])
    expect(spec).toEqual([
      { min: 1, max: 3 },
      { min: 7, max: 9 },
    ])
    expect(chooseVersion(spec, { min: 1, max: 100 })).toBe(9)
    expect(chooseVersion(spec, { min: 2, max: 8 })).toBe(8)
    expect(chooseVersion(spec, { min: 4, max: 6 })).toBeUndefined()
  })
  it('refuses nonsense', () => {
    expect(() => offerRange(0)).toThrow(RangeError)
    expect(() => offerRange({ min: 3, max: 2 })).toThrow(/above versions.max/)
    expect(() => normalizeVersions([])).toThrow(/at least one/)
    expect(() => offerRange(1.5)).toThrow(RangeError)
  })
})

describe('metadata', () => {
  it('refuses bad keys and values with a message naming them', () => {
    expect(() => checkMetadata({ 'a b': 'x' })).toThrow(/"a b" must be printable ASCII/)
    expect(() => checkMetadata({ k: 3 as unknown as string })).toThrow(/must be a string/)
  })
  it('cuts reasons at a character boundary', () => {
    expect(truncateUtf8('ééé', 5)).toBe('éé')
  })
})
