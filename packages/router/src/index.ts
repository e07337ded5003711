/**
 * @packageDocumentation
 *
 * `@pnet/router`: any node reaches any other by peer ID, whatever the topology (line, ring, tree, mesh).
 *
 * - Routing: distance-vector in the spirit of Babel (RFC 8966) — per-destination sequence numbers, the feasibility
 *   condition (routes never loop, even while they change), triggered updates, retractions, seqno requests; metric
 *   hop count or measured RTT. After convergence only small digests flow.
 * - Streams: `openStream(peer, channel)` to a neighbour or k hops away. Relays copy bytes; the ends run Noise
 *   over them, so relays can neither read nor forge data and the far peer ID is authenticated as on a direct
 *   connection. Relays enforce limits and a hop limit.
 * - Broadcast: along the shortest-path tree, one copy per child, with a report that accounts for every target.
 * - `@pnet/router/sim`: simulators (protocol-only, and real networks on the memory transport) and topologies.
 *
 * Wire formats: docs/protocol/router.md. How routes are chosen and withdrawn: docs/routing.md.
 *
 * @example
 * ```ts
 * import { createChannelRegistry } from '@pnet/channel'
 * import { createMemoryHub, createNetwork, generateKey, memory } from '@pnet/network'
 * import { createRouter } from '@pnet/router'
 *
 * // a line a — b — c: a reaches c through b
 * const hub = createMemoryHub()
 * const nodes = await Promise.all(['a', 'b', 'c'].map(async name => {
 *   const network = createNetwork({ privateKey: await generateKey(), transports: [memory({ hub })] })
 *   const channels = createChannelRegistry({ localPeer: network.peerId })
 *   network.handle(channels.accept)
 *   await network.listen(`/memory/${name}`)
 *   return { network, channels, router: createRouter({ network, channels }) }
 * }))
 * const [a, b, c] = nodes
 * await a!.network.dial('/memory/b')
 * await b!.network.dial('/memory/c')
 * c!.channels.handle('/pnet/echo', async stream => { await stream.sink(stream.source) })
 * await a!.router.waitForRoute(c!.network.peerId, { timeoutMs: 10_000 })
 * const { stream, relayed, hops } = await a!.router.openStream(c!.network.peerId, '/pnet/echo')
 * console.log(relayed, hops)                          // true 2
 * await stream.sink([new TextEncoder().encode('hi')])
 * for await (const chunk of stream.source) console.log(new TextDecoder().decode(chunk))   // hi
 * for (const n of nodes) { await n.router.stop(); await n.network.close() }
 * ```
 */
export type {
  BroadcastFailure,
  BroadcastHandler,
  BroadcastMessage,
  BroadcastOptions,
  BroadcastReport,
  BroadcastStats,
} from './broadcast.js'
export { BROADCAST_OUTCOMES, type BroadcastFailureCode, type BroadcastOutcome } from './broadcast-codec.js'
export type { LinkMetric } from './control-link.js'
export * from './errors.js'
export * from './limits.js'
export { BROADCAST_CHANNEL, CONTROL_CHANNEL, RELAY_CHANNEL, ROUTER_PROTOCOL_VERSION } from './protocols.js'
export type { RelayStats } from './relay.js'
export {
  decodeRelayOpen,
  decodeRelayStatus,
  encodeRelayOpen,
  encodeRelayStatus,
  MAX_RELAY_FRAME_BYTES,
  RELAY_STATUS_CODES,
  type RelayOpen,
  type RelayStatus,
} from './relay-codec.js'
export {
  createRouter,
  type OpenStreamOptions,
  type RouteChange,
  type RoutedStream,
  type RouteInfo,
  type Router,
  type RouterEvents,
  type RouterInit,
  type RouterStats,
  type WaitForRouteOptions,
} from './router.js'
export type { RoutingCounters } from './routing-table.js'
