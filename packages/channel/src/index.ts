/**
 * @packageDocumentation
 *
 * `@pnet/channel`: named channels on any `@pnet/network` Stream. When a stream opens it names a channel, and the two
 * ends settle: does the channel exist, which version, is the caller allowed, what metadata comes along. Then the
 * stream is the application's, with helpers for messages, request/response, one-way sends and streamed replies.
 *
 * - Selection is multistream-select 1.0.0, so stock libp2p peers can open `header: false` channels such as
 *   `/ipfs/ping/1.0.0`, and pnet can open theirs.
 * - pnet channels (protocol IDs under `/pnet/…`) add a header: version range → version chosen, metadata both ways,
 *   credentials, an outcome. One round trip in all (two with a pre-shared key challenge).
 * - Outcomes are typed errors on the caller: NoSuchChannelError, VersionUnsupportedError, UnauthorizedError,
 *   OverloadedError, ChannelHandshakeTimeoutError, ChannelProtocolError (codes ERR_NO_SUCH_CHANNEL,
 *   ERR_VERSION_UNSUPPORTED, ERR_UNAUTHORIZED, ERR_OVERLOADED, ERR_HANDSHAKE_TIMEOUT, ERR_PROTOCOL_ERROR).
 * - Auth policies: allowAll, allowPeers, presharedKeyAuth (HMAC challenge–response), capabilityAuth (Ed25519 tokens),
 *   anyOf / allOf, or your own `authorize(ctx)`.
 *
 * Wire format, byte by byte: docs/protocol/channel.md.
 *
 * @example
 * ```ts
 * import { createNetwork, generateKey, tcp } from '@pnet/network'
 * import { call, createChannelRegistry, rpcHandler } from '@pnet/channel'
 *
 * const server = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * const registry = createChannelRegistry({ localPeer: server.peerId })
 * registry.handle('/pnet/greet', rpcHandler<{ name: string }, string>({ call: ({ name }, ctx) => `hello ${name} from v${ctx.version}` }))
 * server.handle(registry.accept)
 * const [addr] = await server.listen('tcp://127.0.0.1:0')
 *
 * const client = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * const connection = await client.dial(addr!)
 * console.log(await call<string>(connection, '/pnet/greet', { name: 'ada' }))    // hello ada from v1
 * await client.close(); await server.close()
 * ```
 */

export {
  type AuthContext,
  type AuthDecision,
  type AuthPolicy,
  allOf,
  allow,
  allowAll,
  allowPeers,
  anyOf,
  type Claims,
  type Credential,
  type CredentialContext,
  deny,
} from './auth.js'
export {
  CAPABILITY_SCHEME,
  type CapabilityAuthInit,
  CapabilityError,
  type CapabilityToken,
  capabilityAuth,
  capabilityCredential,
  decodeCapability,
  decodeCapabilityText,
  encodeCapabilityText,
  type IssueCapabilityInit,
  issueCapability,
  type VerifyCapabilityOptions,
  verifyCapability,
} from './capability.js'
export { bytesCodec, type Codec, jsonCodec } from './codec.js'
export {
  ChannelAbortedError,
  ChannelClosedError,
  ChannelError,
  type ChannelErrorCode,
  ChannelHandshakeTimeoutError,
  ChannelProtocolError,
  DuplicateChannelError,
  MessageTooLargeError,
  NoSuchChannelError,
  OverloadedError,
  RemoteError,
  UnauthorizedError,
  UnsupportedRequestError,
  VersionUnsupportedError,
} from './errors.js'
export { type Messages, type MessagesOptions, messages, strictLengthDecoder } from './framing.js'
export { HEADER_VERSION, RejectCode, type RejectCodeName } from './header.js'
export * from './limits.js'
export type { Metadata } from './metadata.js'
export { channelId, MULTISTREAM_PROTOCOL } from './multistream.js'
export { type OpenChannelOptions, type OpenedChannel, openChannel } from './open.js'
export { type PresharedKeyInit, PSK_SCHEME, presharedKeyAuth, presharedKeyCredential } from './psk.js'
export {
  type ChannelContext,
  type ChannelHandler,
  type ChannelRegistry,
  type ChannelRegistryInit,
  type ChannelStats,
  type ConnectionLike,
  createChannelRegistry,
  type HandleOptions,
  type MetadataContext,
  type RegistryStats,
} from './registry.js'
export {
  call,
  callStream,
  cast,
  type RpcHandlers,
  RpcKind,
  type RpcOptions,
  rpcHandler,
  type StreamOpener,
} from './rpc.js'
export { normalizeVersions, type VersionOffer, type VersionRange, type VersionSpec } from './versions.js'
