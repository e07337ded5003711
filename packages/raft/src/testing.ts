/**
 * @packageDocumentation
 *
 * `@pnet/raft/testing`: the tools that show the Raft core is correct — a linearizability checker (Wing–Gong /
 * Porcupine style, with a key-value register model) and a seeded deterministic fault simulator.
 *
 * @example
 * ```ts
 * import { runSimulation } from '@pnet/raft/testing'
 *
 * const r = runSimulation({ seed: 42 })
 * console.log(r.violations.length === 0 ? 'linearizable and safe' : r.violations)
 * ```
 */

export { type KvInput, type KvOperation, type KvOutput, kvModel } from './checker/kv-model.js'
export {
  type CheckOptions,
  type CheckResult,
  checkLinearizable,
  DEFAULT_MAX_CHECK_STEPS,
  type Model,
  type Operation,
} from './checker/linearizability.js'
export * from './sim/index.js'
