/**
 * Metadata: a small string map that travels with a handshake (caller → callee in HELLO, callee → caller in ACCEPT).
 * Keys are printable ASCII without spaces (like HTTP header names, case-sensitive); values are UTF-8.
 */
import { MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES } from './limits.js'
import { WireError, type WireReader, type WireWriter } from './wire.js'

export type Metadata = Readonly<Record<string, string>>

const KEY = /^[\x21-\x7e]+$/

function problem(key: string, value: unknown): string | undefined {
  if (!KEY.test(key)) return `metadata key ${JSON.stringify(key)} must be printable ASCII without spaces`
  if (Buffer.byteLength(key) > MAX_METADATA_KEY_BYTES) {
    return `metadata key ${JSON.stringify(key)} is longer than ${MAX_METADATA_KEY_BYTES} bytes`
  }
  if (typeof value !== 'string') return `metadata value of ${JSON.stringify(key)} must be a string`
  if (Buffer.byteLength(value) > MAX_METADATA_VALUE_BYTES) {
    return `metadata value of ${JSON.stringify(key)} is longer than ${MAX_METADATA_VALUE_BYTES} bytes`
  }
  return undefined
}

/** Validates a map before it is sent; throws RangeError naming the bad entry. */
export function checkMetadata(metadata: Metadata | undefined): Metadata {
  if (metadata === undefined) return {}
  const entries = Object.entries(metadata)
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw new RangeError(`metadata has ${entries.length} entries, more than ${MAX_METADATA_ENTRIES}`)
  }
  for (const [key, value] of entries) {
    const p = problem(key, value)
    if (p !== undefined) throw new RangeError(p)
  }
  return Object.freeze({ ...metadata })
}

/** Writes a map, keys in ascending order (keys are ASCII, so string order is byte order). */
export function writeMetadata(w: WireWriter, metadata: Metadata): void {
  const entries = Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  w.uvarint(entries.length)
  for (const [key, value] of entries) w.string(key).string(value)
}

/**
 * Reads a map. Keys must come in strictly ascending order (so there is one encoding per map and no duplicates);
 * bad keys and oversized entries are malformed.
 */
export function readMetadata(r: WireReader, maxEntries = MAX_METADATA_ENTRIES, what = 'metadata'): Metadata {
  const count = r.uvarint(`${what} count`, maxEntries)
  // a null prototype: a key like "__proto__" is just a key
  const out: Record<string, string> = Object.create(null)
  let previous: string | undefined
  for (let i = 0; i < count; i++) {
    const key = r.string(`${what} key`, MAX_METADATA_KEY_BYTES)
    const value = r.string(`${what} value`, MAX_METADATA_VALUE_BYTES)
    const p = problem(key, value)
    if (p !== undefined) throw new WireError(p)
    if (previous !== undefined && key <= previous) {
      throw new WireError(
        key === previous
          ? `${what} key ${JSON.stringify(key)} appears twice`
          : `${what} keys are not in ascending order`,
      )
    }
    previous = key
    out[key] = value
  }
  return Object.freeze(out)
}
