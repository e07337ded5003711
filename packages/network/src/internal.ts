/**
 * @packageDocumentation
 *
 * `@pnet/network/internal`: the hand-rolled decoders of the data path — multistream-select for the muxer, the Noise
 * transport framing, yamux frames — for fuzzers and interop tests. Not a stable API: it follows the wire, not semver.
 *
 * @example
 * ```ts
 * import { FrameDecoder } from '@pnet/network/internal'
 *
 * const d = new FrameDecoder({ header: h => console.log(h), data: () => {} }, 'peer', 1 << 20)
 * d.push(Uint8Array.of(0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7))   // { type: 2 (ping), flags: 1, streamId: 0, length: 7 }
 * ```
 */
export { MuxerSelect } from './mss-lite.js'
export { NOISE_MAX_PLAINTEXT, NoiseChannel, type NoiseChannelInit, NoiseDecryptError } from './noise-channel.js'
export type { RawIO } from './raw-io.js'
export { encodeHeader, FrameDecoder, type FrameSink, type Header, Type as YamuxType } from './yamux/frame.js'
