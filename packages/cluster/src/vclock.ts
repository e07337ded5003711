/**
 * Vector clocks: one counter per actor (a peer ID, a replica name), with the wall-clock time the actor last
 * incremented it so a clock can be pruned by age as well as by size (as Riak does).
 *
 * Clocks are immutable values: every operation returns a new clock. Entries are kept sorted by actor, so equal
 * clocks encode to equal bytes.
 *
 * - `compare(a, b)`: `before` (a happened before b), `after`, `equal` or `concurrent` — counters alone decide;
 *   the timestamps are metadata for pruning.
 * - `merge(a, b)`: the least clock that descends from both (entry-wise max; for equal counters the later time).
 *   Commutative, associative and idempotent (property-tested).
 * - `prune(clock, { maxEntries, maxAgeMs, now })`: drops entries older than `maxAgeMs`, then the oldest until at
 *   most `maxEntries` remain. Pruning forgets history: two pruned clocks may compare `concurrent` (or `before`)
 *   where the full ones did not. Prune only clocks of values whose older versions are long gone.
 *
 * Encoding (docs/protocol/cluster.md): `count` varint, then per entry in ascending actor order: actor (varint
 * length + UTF-8), counter (varint ≥ 1), time (varint ms since the Unix epoch). The decoder is strict: truncation,
 * trailing bytes, non-minimal varints, unsorted or duplicate actors, zero counters and anything past
 * {@link VCLOCK_LIMITS} throw {@link MalformedClusterDataError}.
 *
 * @example
 * ```ts
 * import { compareVClocks, createVClock, decodeVClock, encodeVClock, incrementVClock, mergeVClocks } from '@pnet/cluster'
 *
 * const a = incrementVClock(createVClock(), 'alice')        // {alice: 1}
 * const b = incrementVClock(a, 'bob')                       // {alice: 1, bob: 1}
 * const c = incrementVClock(a, 'carol')                     // {alice: 1, carol: 1}
 * compareVClocks(a, b)                                      // 'before'
 * compareVClocks(b, c)                                      // 'concurrent'
 * const m = mergeVClocks(b, c)                              // {alice: 1, bob: 1, carol: 1}
 * compareVClocks(decodeVClock(encodeVClock(m)), m)          // 'equal'
 * ```
 */
import { Reader, Writer } from './bytes.js'
import { InvalidClusterArgumentError } from './errors.js'
import { VCLOCK_LIMITS } from './limits.js'

/** One actor's entry. */
export interface VClockEntry {
  readonly actor: string
  /** how many events this actor has recorded; ≥ 1 */
  readonly counter: number
  /** ms since the Unix epoch when the actor last incremented (or the latest merged time) */
  readonly time: number
}

/** An immutable vector clock: entries sorted by actor, no duplicates, counters ≥ 1. */
export interface VClock {
  readonly entries: readonly VClockEntry[]
}

export type VClockOrder = 'before' | 'after' | 'equal' | 'concurrent'

const EMPTY: VClock = Object.freeze({ entries: Object.freeze([]) })

/**
 * The empty clock (no events).
 *
 * @example
 * ```ts
 * const clock = createVClock()   // { entries: [] }
 * ```
 */
export function createVClock(): VClock {
  return EMPTY
}

function freeze(entries: VClockEntry[]): VClock {
  return Object.freeze({ entries: Object.freeze(entries) })
}

/**
 * The counter of `actor` in `clock` (0 when absent).
 *
 * @example
 * ```ts
 * vclockCounter(incrementVClock(createVClock(), 'a'), 'a')   // 1
 * ```
 */
export function vclockCounter(clock: VClock, actor: string): number {
  for (const e of clock.entries) if (e.actor === actor) return e.counter
  return 0
}

/**
 * A new clock with `actor`'s counter one higher and its time set to `now` (default `Date.now()`).
 *
 * @example
 * ```ts
 * const c = incrementVClock(createVClock(), 'alice', { now: 1_700_000_000_000 })
 * ```
 */
export function incrementVClock(clock: VClock, actor: string, options: { now?: number } = {}): VClock {
  if (actor === '') throw new InvalidClusterArgumentError('actor', '""', 'must not be empty')
  const time = options.now ?? Date.now()
  const out: VClockEntry[] = []
  let done = false
  for (const e of clock.entries) {
    if (!done && e.actor === actor) {
      if (e.counter >= Number.MAX_SAFE_INTEGER) {
        throw new InvalidClusterArgumentError('counter', String(e.counter), 'would pass 2^53 - 1')
      }
      out.push({ actor, counter: e.counter + 1, time })
      done = true
    } else {
      if (!done && e.actor > actor) {
        out.push({ actor, counter: 1, time })
        done = true
      }
      out.push(e)
    }
  }
  if (!done) out.push({ actor, counter: 1, time })
  return freeze(out)
}

/**
 * The least clock that descends from both: entry-wise max of counters (the later time when counters tie).
 *
 * @example
 * ```ts
 * mergeVClocks(a, b)   // compareVClocks(a, result) and compareVClocks(b, result) are 'before' or 'equal'
 * ```
 */
export function mergeVClocks(a: VClock, b: VClock): VClock {
  const out: VClockEntry[] = []
  const x = a.entries
  const y = b.entries
  let i = 0
  let j = 0
  while (i < x.length || j < y.length) {
    const p = x[i]
    const q = y[j]
    if (q === undefined || (p !== undefined && p.actor < q.actor)) {
      out.push(p!)
      i++
    } else if (p === undefined || q.actor < p.actor) {
      out.push(q)
      j++
    } else {
      if (p.counter > q.counter) out.push(p)
      else if (q.counter > p.counter) out.push(q)
      else out.push(p.time >= q.time ? p : q)
      i++
      j++
    }
  }
  return freeze(out)
}

/**
 * How `a` relates to `b` by their counters: `before` when every counter of a is ≤ b's and one is smaller.
 *
 * @example
 * ```ts
 * compareVClocks(createVClock(), incrementVClock(createVClock(), 'a'))   // 'before'
 * ```
 */
export function compareVClocks(a: VClock, b: VClock): VClockOrder {
  let aBigger = false
  let bBigger = false
  const x = a.entries
  const y = b.entries
  let i = 0
  let j = 0
  while (i < x.length || j < y.length) {
    const p = x[i]
    const q = y[j]
    if (q === undefined || (p !== undefined && p.actor < q.actor)) {
      aBigger = true
      i++
    } else if (p === undefined || q.actor < p.actor) {
      bBigger = true
      j++
    } else {
      if (p.counter > q.counter) aBigger = true
      else if (q.counter > p.counter) bBigger = true
      i++
      j++
    }
    if (aBigger && bBigger) return 'concurrent'
  }
  if (aBigger) return 'after'
  if (bBigger) return 'before'
  return 'equal'
}

export interface PruneOptions {
  /** keep at most this many entries (the most recently updated) */
  maxEntries?: number
  /** drop entries whose time is older than `now - maxAgeMs` */
  maxAgeMs?: number
  /** ms since the Unix epoch (default `Date.now()`) */
  now?: number
}

/**
 * A clock without entries older than `maxAgeMs`, then without the oldest entries past `maxEntries`. Ties in
 * time are broken by actor so the result does not depend on entry order.
 *
 * @example
 * ```ts
 * pruneVClock(clock, { maxEntries: 10, maxAgeMs: 7 * 24 * 3600_000 })
 * ```
 */
export function pruneVClock(clock: VClock, options: PruneOptions): VClock {
  const { maxEntries = Number.POSITIVE_INFINITY, maxAgeMs = Number.POSITIVE_INFINITY } = options
  if (!(maxEntries >= 0)) throw new InvalidClusterArgumentError('maxEntries', String(maxEntries), 'must be ≥ 0')
  if (!(maxAgeMs >= 0)) throw new InvalidClusterArgumentError('maxAgeMs', String(maxAgeMs), 'must be ≥ 0')
  const now = options.now ?? Date.now()
  let kept = clock.entries.filter(e => now - e.time <= maxAgeMs)
  if (kept.length > maxEntries) {
    const byAge = [...kept].sort((p, q) => q.time - p.time || (p.actor < q.actor ? -1 : 1))
    const keep = new Set(byAge.slice(0, maxEntries))
    kept = kept.filter(e => keep.has(e))
  }
  return kept.length === clock.entries.length ? clock : freeze(kept)
}

/**
 * The clock's bytes (canonical: equal clocks give equal bytes).
 *
 * @example
 * ```ts
 * const bytes = encodeVClock(clock)
 * ```
 */
export function encodeVClock(clock: VClock): Uint8Array {
  if (clock.entries.length > VCLOCK_LIMITS.maxEntries) {
    throw new InvalidClusterArgumentError('clock', `${clock.entries.length} entries`, 'too many to encode; prune it')
  }
  const w = new Writer(16 + clock.entries.length * 24)
  w.varint(clock.entries.length)
  const enc = new TextEncoder()
  for (const e of clock.entries) {
    const actor = enc.encode(e.actor)
    if (actor.byteLength > VCLOCK_LIMITS.maxActorBytes) {
      throw new InvalidClusterArgumentError('actor', e.actor, `longer than ${VCLOCK_LIMITS.maxActorBytes} bytes`)
    }
    w.lp(actor).varint(e.counter).varint(e.time)
  }
  return w.finish()
}

/**
 * Decodes {@link encodeVClock}'s bytes, strictly (see the module doc); throws `MalformedClusterDataError`.
 *
 * @example
 * ```ts
 * const clock = decodeVClock(bytes)
 * ```
 */
export function decodeVClock(bytes: Uint8Array): VClock {
  const r = new Reader(bytes, 'vector clock')
  const count = r.varint('count', VCLOCK_LIMITS.maxEntries)
  const out: VClockEntry[] = []
  let prev: string | undefined
  for (let i = 0; i < count; i++) {
    const actor = r.string(`entry ${i} actor`, VCLOCK_LIMITS.maxActorBytes)
    if (actor === '') r.fail(`entry ${i} actor`, 'empty')
    if (prev !== undefined && !(prev < actor)) r.fail(`entry ${i} actor`, 'not in ascending order (or duplicate)')
    const counter = r.varint(`entry ${i} counter`)
    if (counter === 0) r.fail(`entry ${i} counter`, 'zero')
    const time = r.varint(`entry ${i} time`)
    out.push({ actor, counter, time })
    prev = actor
  }
  r.end()
  return freeze(out)
}
