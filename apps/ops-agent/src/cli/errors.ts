/** The CLI's usage error, in a module of its own so option and default helpers can throw it without import cycles. */

/** A command line, flag value or controller setting that cannot work: exit code 2. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError'
  readonly code: string = 'ERR_USAGE'
}
