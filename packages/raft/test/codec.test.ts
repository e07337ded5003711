import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, MESSAGE_TYPES } from '../src/codec.js'
import { RaftDecodeError } from '../src/errors.js'
import { MAX_ENTRIES_PER_APPEND, MAX_MEMBER_ID_BYTES } from '../src/limits.js'
import { createRng, runSimulation } from '../src/testing.js'
import type { Message } from '../src/types.js'

const base: Message = {
  type: 'App',
  from: '12D3KooWa',
  to: '12D3KooWb',
  term: 7,
  logTerm: 6,
  index: 41,
  entries: [
    { term: 6, index: 42, data: new Uint8Array([1, 2, 3]) },
    { term: 7, index: 43, data: new Uint8Array(0), conf: { op: 'add-learner', member: 'n9', promote: true } },
    { term: 7, index: 44, data: new Uint8Array(0), conf: { op: 'remove', member: 'n2' } },
  ],
  commit: 40,
  reject: false,
  rejectHint: 0,
  context: 3,
  transfer: false,
}

const decodeError = (bytes: Uint8Array): RaftDecodeError => {
  try {
    decodeMessage(bytes)
  } catch (err) {
    if (err instanceof RaftDecodeError) return err
    throw err
  }
  throw new Error('decoded')
}

describe('message codec', () => {
  it('round-trips every message type and field, including large integers', () => {
    for (const type of MESSAGE_TYPES) {
      const m: Message = {
        ...base,
        type,
        entries: type === 'App' ? base.entries : [],
        reject: type === 'AppResp',
        transfer: type === 'Vote',
        term: Number.MAX_SAFE_INTEGER,
        rejectHint: 2 ** 40,
      }
      expect(decodeMessage(encodeMessage(m))).toEqual(m)
    }
  })

  it('rejects bad input with named reasons: version, type, flags, truncation, trailing bytes, varints', () => {
    const good = encodeMessage(base)
    const patch = (at: number, v: number) => {
      const b = good.slice()
      b[at] = v
      return b
    }
    expect(decodeError(patch(0, 2)).reason).toMatch(/unknown version/)
    expect(decodeError(patch(1, 99)).reason).toMatch(/unknown message type/)
    expect(decodeError(good.subarray(0, good.length - 1)).reason).toBe('truncated')
    expect(decodeError(new Uint8Array([...good, 0])).reason).toBe('trailing bytes')
    const err = decodeError(patch(0, 9))
    expect(err).toMatchObject({ name: 'RaftDecodeError', code: 'ERR_RAFT_DECODE', offset: 1 })
    // a non-minimal varint (0x80 0x00 for 0) and one longer than 8 bytes
    const hdr = [1, 1, 1, 97, 1, 98]
    expect(decodeError(new Uint8Array([...hdr, 0x80, 0x00])).reason).toBe('varint not minimal')
    expect(decodeError(new Uint8Array([...hdr, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).reason).toBe(
      'varint too long',
    )
  })

  it('enforces limits and structure: IDs, entry counts, consecutive indexes, entries only on App', () => {
    expect(() => encodeMessage({ ...base, from: 'x'.repeat(MAX_MEMBER_ID_BYTES + 1) })).not.toThrow()
    expect(decodeError(encodeMessage({ ...base, from: 'x'.repeat(MAX_MEMBER_ID_BYTES + 1) })).reason).toMatch(/from of/)
    const many = Array.from({ length: MAX_ENTRIES_PER_APPEND + 1 }, (_, i) => ({
      term: 1,
      index: 42 + i,
      data: new Uint8Array(0),
    }))
    expect(decodeError(encodeMessage({ ...base, entries: many })).reason).toMatch(/entries exceed/)
    expect(
      decodeError(encodeMessage({ ...base, entries: [{ term: 6, index: 50, data: new Uint8Array(0) }] })).reason,
    ).toMatch(/entry index 50/)
    expect(decodeError(encodeMessage({ ...base, type: 'Heartbeat' })).reason).toMatch(/carries no entries/)
    expect(
      decodeError(encodeMessage({ ...base, entries: [{ term: 8, index: 42, data: new Uint8Array(0) }] })).reason,
    ).toMatch(/above message term/)
  })

  it('fuzz: 20,000 mutated encodings either decode to a message that re-encodes identically or throw RaftDecodeError', () => {
    const rng = createRng(2026)
    const good = encodeMessage(base)
    let decoded = 0
    for (let i = 0; i < 20_000; i++) {
      const b = good.slice(0, rng.chance(0.2) ? rng.int(0, good.length) : good.length)
      for (let k = rng.int(1, 4); k > 0 && b.length > 0; k--) b[rng.int(0, b.length - 1)] = rng.int(0, 255)
      try {
        const m = decodeMessage(b)
        decoded++
        expect(encodeMessage(m)).toEqual(b) // strict: one encoding per message
      } catch (err) {
        if (!(err instanceof RaftDecodeError)) throw err
      }
    }
    expect(decoded).toBeGreaterThan(0)
  })

  it('carries real traffic: 10 fault-simulator seeds with every message through encode and strict decode', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const r = runSimulation({ seed, codec: true })
      expect([seed, r.violations, r.check.result]).toEqual([seed, [], 'ok'])
    }
  })
})
