/**
 * @packageDocumentation
 *
 * `@pnet/fleet`: starts N ops-agents on one machine for tests and benchmarks — real `ops-agent agent` processes, or
 * several agents sharing a worker process — every agent with its own identity, data dir, listener and connections,
 * each joining its parent in a chosen topology (line, tree, star, random). Everything is torn down by `stop()`, and
 * by a detached reaper if the starting process dies first.
 *
 * @example
 * ```ts
 * import { startFleet } from '@pnet/fleet'
 * import { loadOrCreateKey } from '@pnet/network'
 * import { execute, joinFleet, parseSelectors } from 'ops-agent'
 *
 * const fleet = await startFleet({ count: 12, topology: 'tree', branching: 3 })
 * try {
 *   const key = await loadOrCreateKey(fleet.controller!.keyFile)
 *   const overlay = await joinFleet({ key, via: fleet.root })          // knows only the root
 *   const run = await execute({ key, fleet: overlay, selectors: parseSelectors(['host=agent-01*']),
 *     command: { argv: ['hostname'] } })
 *   console.log(run.summary)                                           // { targeted: 2, ok: 2, … }
 *   await overlay.close()
 * } finally {
 *   await fleet.stop()
 * }
 * ```
 */
export { FleetConfigError, FleetConvergeError, FleetStartError } from './errors.js'
export {
  awaitRoutes,
  defaultAgentsPerProcess,
  type Fleet,
  type FleetAgent,
  type FleetOptions,
  type ProcessStats,
  startFleet,
} from './fleet.js'
export * from './limits.js'
export { agentArgs, entryPoint, opsAgentCli } from './processes.js'
export { alive, descendants } from './procs.js'
export {
  depths,
  levels,
  parents,
  seededRandom,
  TOPOLOGIES,
  type TopologyName,
  type TopologyOptions,
} from './topology.js'
