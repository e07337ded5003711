/**
 * What stops a controller run from outside: Ctrl-C (SIGINT), `kill` or a service manager (SIGTERM), a closed
 * terminal or ssh session (SIGHUP), and a reader that went away (`ops-agent exec … | head -1`: stdout is a closed
 * pipe). Each one cancels the job on every host the way Ctrl-C always did — a controller that dies instead leaves
 * remote commands running with nobody to collect them — and the run exits the way a shell reports a process killed
 * by that signal (128 + its number), so `$?` and `set -o pipefail` still say what happened.
 */
import { EventEmitter } from 'node:events'

/** 128 + the signal's number, as a shell reports a process that signal killed. */
export const INTERRUPT_EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGPIPE: 141 } as const

/** Why a run was interrupted; SIGPIPE stands for "stdout is a closed pipe" (Node ignores the signal itself). */
export type Interrupt = keyof typeof INTERRUPT_EXIT_CODES

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
/** A second signal within this long of the first is the same one delivered twice, not a second request. */
const REPEAT_WINDOW_MS = 1_000

const events = new EventEmitter<{ interrupt: [Interrupt] }>()
let stdoutGone = false
let guarded = false

/** Write errors that mean the reader is gone (a closed pipe, a hung-up terminal), not a bug to report. */
function readerGone(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'EIO' || err.code === 'ERR_STREAM_DESTROYED'
}

/**
 * Makes a closed stdout an interrupt (SIGPIPE) instead of an unhandled `EPIPE` with a stack trace, and a closed
 * stderr silent (there is nowhere left to say anything). Call once, before the first write; idempotent.
 */
export function guardStdio(): void {
  if (guarded) return
  guarded = true
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!readerGone(err)) throw err
    if (stdoutGone) return
    stdoutGone = true
    // a run in progress cancels (quietly: the reader chose to stop); with none, the command simply ends
    if (events.listenerCount('interrupt') > 0) events.emit('interrupt', 'SIGPIPE')
    else process.exitCode = INTERRUPT_EXIT_CODES.SIGPIPE
  })
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (!readerGone(err)) throw err
  })
}

/** True once stdout turned out to be closed: later writes to it are dropped. */
export function stdoutClosed(): boolean {
  return stdoutGone
}

/**
 * Calls `handler` on the first SIGINT, SIGTERM or SIGHUP, or when stdout closes (guardStdio), until the returned
 * function is called. While it is installed these signals do not kill the process: the handler cancels the job and
 * the run ends with the exit code of INTERRUPT_EXIT_CODES. A second signal (a second or more later) exits at once
 * with that code, so a cancel that hangs (a wedged link) never takes control away from the operator.
 *
 * @example
 * ```ts
 * const cancel = new AbortController()
 * let interrupted: Interrupt | undefined
 * const stop = onInterrupt(why => { interrupted = why; cancel.abort() })
 * try { await execute({ …, signal: cancel.signal }) } finally { stop() }
 * return interrupted === undefined ? 0 : INTERRUPT_EXIT_CODES[interrupted]
 * ```
 */
export function onInterrupt(handler: (why: Interrupt) => void): () => void {
  let first: Interrupt | undefined
  let firstAt = 0
  const fire = (why: Interrupt): void => {
    if (first !== undefined) {
      // one Ctrl-C can arrive twice (the terminal signals the whole process group, and a wrapper such as
      // `npm run` passes its own copy on): only a later one is the operator insisting
      if (why !== 'SIGPIPE' && performance.now() - firstAt >= REPEAT_WINDOW_MS) {
        process.exit(INTERRUPT_EXIT_CODES[first])
      }
      return
    }
    first = why
    firstAt = performance.now()
    handler(why)
  }
  const bySignal = new Map(SIGNALS.map(s => [s, () => fire(s)] as const))
  for (const [s, f] of bySignal) process.on(s, f)
  events.on('interrupt', fire)
  if (stdoutGone) queueMicrotask(() => fire('SIGPIPE'))
  return () => {
    for (const [s, f] of bySignal) process.off(s, f)
    events.off('interrupt', fire)
  }
}
