/**
 * @packageDocumentation
 *
 * `@pnet/cluster/sim`: the membership state machine in virtual time — N members over a network with latency,
 * loss, partitions, crashed and paused members — deterministic per seed.
 *
 * @example
 * ```ts
 * import { createSwimSim } from '@pnet/cluster/sim'
 *
 * const sim = createSwimSim({ size: 16, seed: 1 })
 * sim.runUntil(() => sim.converged(), 60_000)   // true
 * ```
 */
export { seededRandom } from './prng.js'
export { createSwimSim, type SimMember, type SimStats, type SwimSim, type SwimSimOptions } from './swim-sim.js'
