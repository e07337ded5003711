/**
 * @packageDocumentation
 *
 * `@pnet/router/internal`: the router's wire codecs, for fuzzers, interop tests and lab tools that speak the
 * protocol on purpose (docs/protocol/router.md). Not a stable API: it follows the wire format, not semver.
 *
 * @example
 * ```ts
 * import { ControlDecoder } from '@pnet/router/internal'
 *
 * const msg = new ControlDecoder().decode(Uint8Array.of(0x05, 0, 0, 0, 7))   // { type: 'ping', nonce: 7 }
 * ```
 */
export { decodeBroadcast, decodeReport, encodeBroadcast, encodeReport } from './broadcast-codec.js'
export { ControlDecoder, ControlEncoder } from './control-codec.js'
export { lengthPrefixed, readFrame } from './frame-io.js'
export type { ControlMessage, RouteUpdate } from './messages.js'
export { type PeerKey, peerKeyFromBytes, peerKeyOf } from './peer-key.js'
