/**
 * @packageDocumentation
 *
 * `@pnet/fuzz`: fuzzers for every pnet decoder — multistream-select, Noise transport frames and yamux frames
 * (network); header frames, multistream messages, frames, RPC errors, capability tokens, varints (channel); control
 * messages, relay OPEN/STATUS, broadcast messages and reports, stream head frames (router); signed jobs (ops-agent).
 * Each gets random bytes and mutated valid encodings from a seeded PRNG; anything but its documented typed error,
 * a violated property (e.g. forged bytes delivered), a hang or heap growth fails.
 *
 * @example
 * ```ts
 * import { allTargets, fuzz } from '@pnet/fuzz'
 *
 * for (const t of allTargets) {
 *   const r = await fuzz(t, { runs: 10_000, seed: 1 })
 *   console.log(t.name, r.failures.length === 0 ? 'ok' : r.failures[0])
 * }
 * ```
 */
import type { FuzzTarget } from './harness.js'
import { channelTargets } from './targets/channel.js'
import { networkTargets } from './targets/network.js'
import { opsTargets } from './targets/ops.js'
import { routerTargets } from './targets/router.js'

export { type Failure, type FuzzResult, type FuzzTarget, fuzz, PropertyViolation } from './harness.js'
export * from './limits.js'
export { mutate, nextInput, Rng, split } from './rng.js'

/** Every decoder, in layer order. */
export const allTargets: readonly FuzzTarget[] = [...networkTargets, ...channelTargets, ...routerTargets, ...opsTargets]
