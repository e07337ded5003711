/**
 * Codecs turn application values into message bytes and back. A decoder gets one whole message (already bounded by
 * the channel's size limit) and throws on anything it cannot read; the caller turns that into a protocol error.
 *
 * @example
 * ```ts
 * const codec = jsonCodec<{ cmd: string }>()
 * codec.decode(codec.encode({ cmd: 'uptime' }))   // { cmd: 'uptime' }
 * ```
 */

export interface Codec<T> {
  /** shown in errors */
  readonly name: string
  encode(value: T): Uint8Array
  decode(bytes: Uint8Array): T
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * JSON as UTF-8. `undefined` travels as an empty message (so a handler may return nothing).
 *
 * @example
 * ```ts
 * await call(connection, '/pnet/kv', { get: 'a' }, { codec: jsonCodec() })
 * ```
 */
export function jsonCodec<T = unknown>(): Codec<T> {
  return {
    name: 'json',
    encode(value) {
      if (value === undefined) return new Uint8Array(0)
      const text = JSON.stringify(value)
      if (text === undefined) throw new TypeError(`a ${typeof value} cannot be encoded as JSON`)
      return utf8.encode(text)
    },
    decode(bytes) {
      if (bytes.byteLength === 0) return undefined as T
      return JSON.parse(strictUtf8.decode(bytes)) as T
    },
  }
}

/**
 * Raw bytes, unchanged.
 *
 * @example
 * ```ts
 * const reply = await call<Uint8Array>(connection, '/pnet/blob', new Uint8Array([1, 2]), { codec: bytesCodec })
 * ```
 */
export const bytesCodec: Codec<Uint8Array> = Object.freeze({
  name: 'bytes',
  encode: (value: Uint8Array) => {
    if (!(value instanceof Uint8Array)) throw new TypeError('bytesCodec encodes Uint8Arrays only')
    return value
  },
  // a plain Uint8Array view (not a Buffer subclass), no copy
  decode: (bytes: Uint8Array) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
})
