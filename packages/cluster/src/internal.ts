/**
 * @packageDocumentation
 *
 * `@pnet/cluster/internal`: the membership wire codec and byte helpers, for fuzzers, interop tests and lab tools
 * that speak the protocol on purpose (docs/protocol/cluster.md). Not a stable API: it follows the wire format.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from '@pnet/cluster/internal'
 *
 * const bytes = await encodeMessage({ type: 'gossip', gossip: [] }, { privateKey })
 * const { from } = await decodeMessage(bytes)
 * ```
 */
export { Reader, Writer } from './bytes.js'
export {
  CODEC_VERSION,
  type DecodeOptions,
  decodeMessage,
  type EncodeOptions,
  encodeMessage,
  encodeStatementBody,
  MESSAGE_CONTEXT,
  STATEMENT_CONTEXT,
} from './codec.js'
