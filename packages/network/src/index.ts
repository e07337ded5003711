/**
 * @packageDocumentation
 *
 * `@pnet/network`: encrypted, multiplexed connections behind one Connection/Stream interface, over TCP, memory
 * (and QUIC, WebSocket or a transport of your own). On the wire it is libp2p: multistream-select, Noise XX with the
 * libp2p identity payload, yamux; peer IDs are libp2p Ed25519 peer IDs.
 *
 * @example
 * ```ts
 * import { createNetwork, generateKey, tcp } from '@pnet/network'
 *
 * const server = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * server.handle(stream => { void stream.sink(stream.source) })        // echo every stream
 * const [addr] = await server.listen('tcp://127.0.0.1:0')            // /ip4/127.0.0.1/tcp/PORT/p2p/12D3Koo…
 *
 * const client = createNetwork({ privateKey: await generateKey(), transports: [tcp()] })
 * const conn = await client.dial(addr!)                                 // fails unless that peer answers
 * const stream = await conn.newStream()
 * await stream.sink([new TextEncoder().encode('hello')])
 * for await (const chunk of stream.source) console.log(new TextDecoder().decode(chunk))   // hello
 * await client.close(); await server.close()
 * ```
 */

export {
  type AddressInput,
  parseAddress,
  peerIdOfAddress,
  protocolNames,
  withoutPeerId,
  withPeerId,
} from './address.js'
export { nodeStreamToRaw } from './duplex-connection.js'
export * from './errors.js'
export { createGate, type Gate } from './gate.js'
export {
  decodeKey,
  encodeKey,
  generateKey,
  loadKey,
  loadOrCreateKey,
  parsePeerId,
  peerIdFromKey,
} from './identity.js'
export * from './interface.js'
export {
  DEFAULT_LIMITS,
  FRAMES_PER_TURN,
  INBOUND_HANDLERS_PER_TURN,
  LOG_THROTTLE_MS,
  MAX_YAMUX_FRAME_BYTES,
  resolveLimits,
  STREAM_CHANGES_PER_TURN,
  STREAM_LIMIT_STRIKES,
  WS_MAX_MESSAGE_BYTES,
} from './limits.js'
export { childLogger, type LogFn, type Logger, logThrottled, silentLogger } from './logger.js'
export { createNetwork, type Network, type NetworkEvents, type NetworkInit } from './network.js'
export {
  createMemoryHub,
  defaultMemoryHub,
  type MemoryHub,
  type MemoryInit,
  type MemoryLink,
  type MemoryLinkOptions,
  memory,
} from './transports/memory.js'
export { isQuicAvailable, isQuicInstalled, type QuicInit, quic } from './transports/quic.js'
export { type TcpInit, tcp } from './transports/tcp.js'
export { type WsInit, ws } from './transports/ws.js'
export { createUpgrader, NOISE_PROTOCOL, type UpgraderInit, YAMUX_PROTOCOL } from './upgrader.js'
