/**
 * The logging contract of the whole stack: pino's call shape (`log.info({ peer }, 'message')`), so a pino logger
 * can be passed as is. Library code logs through this and prints nothing by itself; the default is silent.
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
