/**
 * @packageDocumentation
 *
 * `@pnet/channel/internal`: the channel wire codecs (docs/protocol/channel.md) — header frames, multistream
 * messages, the frame reader, RPC error bodies, varints — for fuzzers and interop tests. Not a stable API.
 *
 * @example
 * ```ts
 * import { decodeHeaderFrame, WireError } from '@pnet/channel/internal'
 *
 * try { decodeHeaderFrame(Uint8Array.of(0x7f)) } catch (err) { console.log(err instanceof WireError) }   // true
 * ```
 */
export { decodeHeaderFrame, encodeHeaderFrame, type HeaderFrame } from './header.js'
export { FrameTooLargeError, StreamReader } from './io.js'
export { multistreamMessage, parseMultistreamMessage } from './multistream.js'
export { decodeRemoteError } from './rpc.js'
export { lengthPrefixed, readUvarint, WireError } from './wire.js'
