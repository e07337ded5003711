/**
 * @packageDocumentation
 *
 * `@pnet/router/sim`: simulators and topology builders for the router.
 *
 * - {@link createProtocolSim}: the routing protocol alone (real state machine and codec, virtual time) — thousands
 *   of nodes in seconds, invariants checked after every event.
 * - {@link createNetworkSim}: real routers on real networks over the memory transport (Noise, yamux, relays,
 *   broadcasts), links cut with `hub.cut`, nodes killed or leaving gracefully.
 *
 * @example
 * ```ts
 * import { createNetworkSim, topologies, checkRoutes } from '@pnet/router/sim'
 * const sim = await createNetworkSim({ size: 50, edges: topologies.random(50, 3, 7) })
 * await sim.waitConverged()
 * console.log(checkRoutes(sim.view(), { shortest: true }))
 * await sim.close()
 * ```
 */
export { type CheckOptions, type CheckReport, checkRoutes, countLoops, distances, type RoutingView } from './checks.js'
export {
  createNetworkSim,
  NetworkSim,
  type NetworkSimNode,
  type NetworkSimOptions,
  SIM_ECHO_CHANNEL,
  type UnicastResult,
} from './network-sim.js'
export {
  createProtocolSim,
  ProtocolSim,
  type ProtocolSimOptions,
  type ProtocolSimStats,
} from './protocol-sim.js'
export type { Edge } from './topologies.js'
export * as topologies from './topologies.js'
