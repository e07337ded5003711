import { LOG_THROTTLE_MS } from './limits.js'

/**
 * The logging contract of the whole stack: pino's call shape (`log.info({ peer }, 'message')`), so a pino logger
 * can be passed as is. Library code logs through this and prints nothing by itself; the default of the network,
 * channel and router layers is silent (@pnet/node, the composed node, defaults to warnings on stderr).
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * const network = createNetwork({ privateKey, transports: [tcp()], logger: pino() })
 * ```
 */
export interface LogFn {
  (fields: Record<string, unknown>, msg?: string): void
  (msg: string): void
}

export interface Logger {
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  /** a logger whose lines carry `bindings`; optional, the network falls back to the same logger */
  child?(bindings: Record<string, unknown>): Logger
}

const noop: LogFn = () => {}

/** A logger that drops everything: the default. */
export const silentLogger: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop }

/** `logger.child(bindings)` when the logger supports it, else the logger itself. */
export function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  return logger.child?.(bindings) ?? logger
}

const throttles = new WeakMap<Logger, Map<string, { last: number; suppressed: number }>>()

/**
 * Logs `msg` at `level`, at most once per LOG_THROTTLE_MS for each logger and message; lines dropped in between are
 * counted in the next one written (`suppressed: N`). For events a remote can cause at will — refused connections,
 * peers cut off, wasted streams —, so that a flood does not become a flood of log lines (a synchronous write each).
 * `fields` may be a function: it is called only for lines that are written.
 *
 * @example
 * ```ts
 * logThrottled(log, 'warn', { remote: addr }, 'inbound connection refused')
 * ```
 */
export function logThrottled(
  logger: Logger,
  level: 'debug' | 'info' | 'warn' | 'error',
  fields: Record<string, unknown> | (() => Record<string, unknown>),
  msg: string,
): void {
  let byMsg = throttles.get(logger)
  if (byMsg === undefined) {
    byMsg = new Map()
    throttles.set(logger, byMsg)
  }
  const now = Date.now()
  const t = byMsg.get(msg)
  if (t !== undefined && now - t.last < LOG_THROTTLE_MS) {
    t.suppressed++
    return
  }
  const suppressed = t?.suppressed ?? 0
  byMsg.set(msg, { last: now, suppressed: 0 })
  const f = typeof fields === 'function' ? fields() : fields
  logger[level](suppressed > 0 ? { ...f, suppressed } : f, msg)
}
