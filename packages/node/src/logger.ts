/**
 * What a node logs through when it is given no logger.
 */
import type { Logger } from '@pnet/network'
import { pino } from 'pino'

let shared: Logger | undefined

/**
 * The logger of a node created without one: warnings and errors, as pino JSON lines on stderr. Not silent, because
 * what reaches `warn` is something an operator must hear of — a channel handler that threw (its caller only sees
 * its stream reset), a join address that does not answer. Pass your own logger to route or filter them, or
 * `silentLogger` (from @pnet/network) to drop them. One instance serves every node of the process.
 *
 * @example
 * ```ts
 * const node = await createNode({ key })   // same as createNode({ key, logger: defaultLogger() })
 * node.handle('echo', () => { throw new Error('boom') })
 * // stderr, when a caller opens it: {"level":40,…,"channel":"/pnet/echo","err":"boom","msg":"channel handler threw; stream reset"}
 * ```
 */
export function defaultLogger(): Logger {
  // synchronous writes: the line that explains a crash must not be lost when the process exits right after it
  shared ??= pino({ level: 'warn', base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }))
  return shared
}
