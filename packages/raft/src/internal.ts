/**
 * Tuning and internals for pnet's own packages and tests: every limit, the flow-control record. Not a stable API.
 */
export * from './limits.js'
export { Progress, type ProgressState } from './progress.js'
