/**
 * Deadlines for hot paths. `AbortSignal.timeout()` keeps its timer alive until it fires and `AbortSignal.any()`
 * links every derived signal to its parents; at thousands of handshakes a second that is thousands of live timers.
 * A deadline is released as soon as the operation ends.
 */
import { raceSignal } from './io.js'

export interface Deadline {
  /** fires when the time is up or the parent signal fires */
  readonly signal: AbortSignal
  /** true when it fired because the time was up (not because of the parent) */
  readonly expired: boolean
  /** releases the timer and the parent listener; the signal stays as it is */
  clear(): void
}

/**
 * A signal that fires after `ms`, or when `parent` fires, whichever comes first.
 *
 * @example
 * ```ts
 * const d = deadline(10_000, options.signal)
 * try { await work({ signal: d.signal }) } finally { d.clear() }
 * ```
 */
export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController()
  let expired = false
  const onParent = (): void => controller.abort(parent?.reason)
  const timer = setTimeout(() => {
    expired = true
    controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'))
  }, ms)
  if (parent !== undefined) {
    if (parent.aborted) onParent()
    else parent.addEventListener('abort', onParent, { once: true })
  }
  return {
    signal: controller.signal,
    get expired() {
      return expired
    },
    clear() {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onParent)
    },
  }
}

/**
 * Runs `fn` with a signal that fires after `ms`; rejects when the time is up even if `fn` ignores its signal.
 *
 * @example
 * ```ts
 * await within(2_000, signal => stream.close({ signal }))
 * ```
 */
export async function within<T>(ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const d = deadline(ms)
  try {
    return await raceSignal(fn(d.signal), d.signal)
  } finally {
    d.clear()
  }
}
