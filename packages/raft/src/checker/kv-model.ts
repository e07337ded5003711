/**
 * A key-value register model for the checker: put, get and compare-and-set on string keys, a missing key reads as
 * null. Histories partition per key, since operations on different keys commute.
 */
import type { Model, Operation } from './linearizability.js'

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; from: string | null; to: string }

export type KvOutput = { value?: string | null; ok?: boolean }

export type KvOperation = Operation<KvInput, KvOutput>

/**
 * The key-value model. A get answers `{ value }`, a cas `{ ok }`, a put `{}`.
 *
 * @example
 * ```ts
 * checkLinearizable(kvModel, history).result // 'ok' | 'illegal' | 'unknown'
 * ```
 */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case 'put':
        return { ok: true, state: input.value }
      case 'get':
        return { ok: output === undefined || output.value === state, state }
      case 'cas': {
        const applies = state === input.from
        if (output !== undefined && output.ok !== applies) return { ok: false, state }
        return { ok: true, state: applies ? input.to : state }
      }
    }
  },
  hash: state => (state === null ? '\u0000' : state),
  partition(ops) {
    const byKey = new Map<string, KvOperation[]>()
    for (const op of ops) {
      const list = byKey.get(op.input.key)
      if (list === undefined) byKey.set(op.input.key, [op])
      else list.push(op)
    }
    return [...byKey.values()]
  },
  describe(op) {
    const i = op.input
    const what =
      i.op === 'put' ? `put ${i.key}=${i.value}` : i.op === 'get' ? `get ${i.key}` : `cas ${i.key} ${i.from}→${i.to}`
    const out = op.output === undefined ? '?' : JSON.stringify(op.output)
    return `client ${op.client} [${op.call}, ${op.return ?? '∞'}] ${what} → ${out}`
  },
}
