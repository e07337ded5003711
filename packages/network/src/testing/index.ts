/**
 * @packageDocumentation
 *
 * `@pnet/network/testing`: the transport conformance suite (vitest) and helpers for tests of code built on
 * @pnet/network. Needs vitest as a dev dependency of the package that imports it.
 *
 * @example
 * ```ts
 * import { transportConformance } from '@pnet/network/testing'
 * import { tcp } from '@pnet/network'
 * transportConformance({ name: 'tcp', transport: () => tcp(), listenAddr: () => 'tcp://127.0.0.1:0' })
 * ```
 */
export { type ConformanceTarget, transportConformance } from './conformance.js'
export * from './helpers.js'
export { type CodeBlock, type ErrorClass, errorConvention, readmeExamples, tsBlocks } from './suites.js'
