import { describe, expect, it } from 'vitest'
import type { Entry, HardState } from '../src/types.js'
import { crc32c, encodeReadyRecords, recoverLog } from '../src/wal.js'

const entry = (term: number, index: number, text = `e${index}`): Entry => ({
  term,
  index,
  data: new TextEncoder().encode(text),
})

describe('storage records', () => {
  it('CRC-32C matches the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283)
  })

  it('replays Readys in order: entries, overwrites of an uncommitted tail, hard states, membership entries', () => {
    const hs: HardState = { term: 2, vote: 'b', commit: 2 }
    const log = new Uint8Array([
      ...encodeReadyRecords({ term: 1, vote: 'a', commit: 0 }, [entry(1, 1), entry(1, 2), entry(1, 3)]),
      ...encodeReadyRecords(hs, [
        entry(2, 3, 'new'),
        { term: 2, index: 4, data: new Uint8Array(0), conf: { op: 'remove', member: 'c' } },
      ]),
    ])
    const r = recoverLog(log)
    expect(r.stopped).toBeUndefined()
    expect(r.validLength).toBe(log.length)
    expect(r.state.hardState).toEqual(hs)
    expect(r.state.entries.map(e => [e.term, e.index])).toEqual([
      [1, 1],
      [1, 2],
      [2, 3],
      [2, 4],
    ])
    expect(r.state.entries[3]!.conf).toEqual({ op: 'remove', member: 'c' })
  })

  it('a tear at any byte recovers exactly the whole records before it, and says so', () => {
    const first = encodeReadyRecords({ term: 1, vote: 'a', commit: 1 }, [entry(1, 1)])
    const second = encodeReadyRecords({ term: 1, vote: 'a', commit: 3 }, [entry(1, 2), entry(1, 3)])
    const log = new Uint8Array([...first, ...second])
    for (let cut = first.length; cut < log.length; cut++) {
      const r = recoverLog(log.subarray(0, cut))
      // clean exactly when the cut falls on a record boundary
      expect(r.stopped === undefined).toBe(r.validLength === cut)
      if (r.stopped !== undefined) expect(r.stopped).toBe('torn')
      expect(r.validLength).toBeGreaterThanOrEqual(first.length)
      expect(r.validLength).toBeLessThanOrEqual(cut)
      // never a commit index past the durable entries: entries are written before the hard state
      expect(r.state.hardState.commit).toBeLessThanOrEqual(r.state.entries.length)
    }
  })

  it('a flipped bit anywhere in a record is detected by its checksum; nothing after it is used', () => {
    const first = encodeReadyRecords(undefined, [entry(1, 1)])
    const second = encodeReadyRecords(undefined, [entry(1, 2)])
    const hard = encodeReadyRecords({ term: 1, vote: '', commit: 2 }, [])
    const log = new Uint8Array([...first, ...second, ...hard])
    for (let i = first.length; i < first.length + second.length; i++) {
      const bad = log.slice()
      bad[i]! ^= 0x10
      const r = recoverLog(bad)
      expect(r.stopped === 'corrupt' || r.stopped === 'torn').toBe(true)
      expect(r.state.entries.map(e => e.index)).toEqual([1])
      expect(r.validLength).toBe(first.length)
    }
  })
})
