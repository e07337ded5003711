/**
 * The storage record format (docs/protocol/raft.md, "Storage format"): a write-ahead log of checksummed records, and
 * the recovery that reads it back, stopping at — and truncating — a torn or corrupted tail. Pure functions over bytes;
 * the file, its fsync and its truncation belong to the disk storage that uses them.
 *
 * record = u32 length (big-endian, of kind + payload) | u8 kind | payload | u32 CRC-32C of (length, kind, payload)
 */
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState } from './codec.js'
import { MAX_RECORD_BYTES } from './limits.js'
import type { DurableState, Entry, HardState } from './types.js'

const KIND_ENTRY = 1
const KIND_HARD = 2
const HEADER = 5
const TRAILER = 4

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** CRC-32C (Castagnoli), the checksum of ext4, iSCSI and etcd's WAL. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function record(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length + TRAILER)
  const view = new DataView(out.buffer)
  view.setUint32(0, 1 + payload.length)
  out[4] = kind
  out.set(payload, HEADER)
  view.setUint32(HEADER + payload.length, crc32c(out, 0, HEADER + payload.length))
  return out
}

/**
 * The bytes to append for one Ready: its entries, then its hard state (so a durable commit index never refers to
 * entries that did not reach the disk). Append them, fsync once, then send the Ready's messages.
 *
 * @example
 * ```ts
 * await file.write(encodeReadyRecords(rd.hardState, rd.entries)); await file.sync()
 * ```
 */
export function encodeReadyRecords(hardState: HardState | undefined, entries: readonly Entry[]): Uint8Array {
  const parts = entries.map(e => record(KIND_ENTRY, encodeEntry(e)))
  if (hardState !== undefined) parts.push(record(KIND_HARD, encodeHardState(hardState)))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export interface Recovered {
  state: DurableState
  /** bytes of valid records; truncate the file here before appending again */
  validLength: number
  /** why reading stopped before the end, if it did: 'torn' (a short record) or 'corrupt' (bad checksum or content) */
  stopped: 'torn' | 'corrupt' | undefined
}

/**
 * Read a log back. Records apply in order (an entry record at index i drops entries ≥ i first); reading stops at the
 * first short or bad record, and nothing after it is used.
 *
 * @example
 * ```ts
 * const { state, validLength } = recoverLog(await readFile(path))
 * await truncate(path, validLength)
 * const core = createRaftCore({ id, voters, durable: state })
 * ```
 */
export function recoverLog(bytes: Uint8Array): Recovered {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const state: DurableState = { hardState: { term: 0, vote: '', commit: 0 }, entries: [] }
  let at = 0
  let stopped: Recovered['stopped']
  while (at < bytes.length) {
    if (at + HEADER > bytes.length) {
      stopped = 'torn'
      break
    }
    const length = view.getUint32(at)
    if (length < 1 || length > MAX_RECORD_BYTES) {
      stopped = 'corrupt'
      break
    }
    const end = at + 4 + length + TRAILER
    if (end > bytes.length) {
      stopped = 'torn'
      break
    }
    if (view.getUint32(at + 4 + length) !== crc32c(bytes, at, at + 4 + length)) {
      stopped = 'corrupt'
      break
    }
    const payload = bytes.subarray(at + HEADER, at + 4 + length)
    try {
      if (bytes[at + 4] === KIND_ENTRY) {
        const e = decodeEntry(payload)
        if (e.index > state.entries.length + 1) throw new Error('gap')
        state.entries.length = e.index - 1
        state.entries.push(e)
      } else if (bytes[at + 4] === KIND_HARD) {
        state.hardState = decodeHardState(payload)
      } else {
        throw new Error('kind')
      }
    } catch {
      stopped = 'corrupt'
      break
    }
    at = end
  }
  state.hardState.commit = Math.min(state.hardState.commit, state.entries.length)
  return { state, validLength: at, stopped }
}
