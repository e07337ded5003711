/**
 * A linearizability checker in the Wing–Gong style with Lowe's just-in-time linearization and memoization of
 * (linearized set, model state) pairs, as in Porcupine. Histories are partitioned (per key for the key-value model)
 * and each partition is checked on its own, which is what makes histories of thousands of operations tractable.
 *
 * An operation whose outcome the client never learned (a timeout, a crash) has no return: it may have taken effect
 * at any point after its call, or never. Model steps receive `output: undefined` for those and must accept any
 * outcome the state allows.
 */

import { DEFAULT_MAX_CHECK_STEPS } from '../limits.js'

export { DEFAULT_MAX_CHECK_STEPS }

export interface Operation<I, O> {
  /** the client (process) that issued it; each client has at most one operation open at a time */
  client: number
  input: I
  /** when the client issued it (any monotone clock; a global event counter is exact) */
  call: number
  /** when the client got the answer; undefined when it never did (ambiguous) */
  return: number | undefined
  /** the answer; undefined when ambiguous */
  output: O | undefined
}

export interface Model<S, I, O> {
  init(): S
  /** apply `input` to `state`; `ok` is false when `output` could not have been the answer */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S }
  /** a string that identifies the state, for memoization */
  hash(state: S): string
  /** split a history into independent sub-histories (e.g. per key) */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][]
  describe?(op: Operation<I, O>): string
}

export type CheckResult<I, O> =
  | { result: 'ok' }
  | {
      result: 'illegal'
      /** the partition that cannot be linearized */
      partition: Operation<I, O>[]
      /** an operation that had to take effect before some point and could not, in the deepest search */
      culprit: Operation<I, O> | undefined
    }
  | { result: 'unknown'; partition: Operation<I, O>[] }

export interface CheckOptions {
  /** search steps per partition before giving up with 'unknown' */
  maxSteps?: number
}

interface Node {
  call: boolean
  id: number
  time: number
  match: Node | undefined
  prev: Node | undefined
  next: Node | undefined
}

/**
 * Check that `ops` is linearizable with respect to `model`.
 *
 * @example
 * ```ts
 * const r = checkLinearizable(kvModel, [
 *   { client: 0, input: { op: 'put', key: 'x', value: '1' }, call: 0, return: 1, output: {} },
 *   { client: 1, input: { op: 'get', key: 'x' }, call: 2, return: 3, output: { value: '1' } },
 * ])
 * r.result // 'ok'
 * ```
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const partitions = model.partition?.(ops) ?? [ops]
  let unknown: Operation<I, O>[] | undefined
  for (const p of partitions) {
    const r = checkPartition(model, p, options.maxSteps ?? DEFAULT_MAX_CHECK_STEPS)
    if (r.result === 'illegal') return r
    if (r.result === 'unknown') unknown ??= p
  }
  return unknown === undefined ? { result: 'ok' } : { result: 'unknown', partition: unknown }
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], maxSteps: number): CheckResult<I, O> {
  const events: Node[] = []
  ops.forEach((op, id) => {
    const ret: Node = {
      call: false,
      id,
      time: op.return ?? Number.POSITIVE_INFINITY,
      match: undefined,
      prev: undefined,
      next: undefined,
    }
    const call: Node = { call: true, id, time: op.call, match: ret, prev: undefined, next: undefined }
    events.push(call, ret)
  })
  // calls before returns at equal times: treating touching operations as concurrent never reports a false violation
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1))
  const head: Node = {
    call: false,
    id: -1,
    time: Number.NEGATIVE_INFINITY,
    match: undefined,
    prev: undefined,
    next: undefined,
  }
  let tail = head
  for (const e of events) {
    tail.next = e
    e.prev = tail
    tail = e
  }

  const words = new Uint32Array(Math.ceil(ops.length / 32) + 1)
  const bitsKey = () => {
    let s = ''
    for (const w of words) s += `${w.toString(36)},`
    return s
  }
  const cache = new Set<string>()
  const stack: { node: Node; state: S }[] = []
  let state = model.init()
  let entry = head.next
  let steps = 0
  let deepest = -1
  let culprit: Operation<I, O> | undefined

  const lift = (n: Node) => {
    n.prev!.next = n.next
    if (n.next) n.next.prev = n.prev
    const m = n.match!
    m.prev!.next = m.next
    if (m.next) m.next.prev = m.prev
  }
  const unlift = (n: Node) => {
    const m = n.match!
    m.prev!.next = m
    if (m.next) m.next.prev = m
    n.prev!.next = n
    if (n.next) n.next.prev = n
  }

  while (entry !== undefined) {
    if (++steps > maxSteps) return { result: 'unknown', partition: ops }
    if (entry.call) {
      const op = ops[entry.id]!
      const r = model.step(state, op.input, op.output)
      if (r.ok) {
        words[entry.id >> 5]! |= 1 << (entry.id & 31)
        const key = `${bitsKey()}|${model.hash(r.state)}`
        if (!cache.has(key)) {
          cache.add(key)
          stack.push({ node: entry, state })
          state = r.state
          lift(entry)
          entry = head.next
          continue
        }
        words[entry.id >> 5]! &= ~(1 << (entry.id & 31))
      }
      entry = entry.next
    } else {
      // a return whose call could not be placed before it; past the last finite return only ambiguous ops remain
      if (entry.time === Number.POSITIVE_INFINITY) return { result: 'ok' }
      if (stack.length > deepest) {
        deepest = stack.length
        culprit = ops[entry.id]
      }
      const top = stack.pop()
      if (top === undefined) return { result: 'illegal', partition: ops, culprit }
      state = top.state
      words[top.node.id >> 5]! &= ~(1 << (top.node.id & 31))
      unlift(top.node)
      entry = top.node.next
    }
  }
  return { result: 'ok' }
}
