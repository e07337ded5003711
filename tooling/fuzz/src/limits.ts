/**
 * Run counts and failure thresholds of the fuzzers, each with why.
 */

/** Inputs per decoder for `npm run fuzz` (the floor). */
export const FULL_RUNS = 100_000

/** Inputs per decoder in the CI test: enough to hit every branch the mutator reaches, fast on two loaded cores. */
export const CI_RUNS = 10_000

/**
 * One input taking longer than this is a hang. Decoders are linear in their input (≤ 4 KiB: well under 1 ms), but a
 * GC pause on two loaded cores can take most of a second, so the bar sits well above that.
 */
export const HANG_MS = 5_000

/** Largest random input: decoders' own limits are far below, so this exercises their refusals. */
export const MAX_INPUT_BYTES = 4096

/** Inputs between two heap samples. */
export const HEAP_SAMPLE_EVERY = 2_000

/**
 * Heap growth (after GC) allowed over a whole run. A decoder that retains something per input (a cache without a
 * bound, a table indexed by attacker-chosen numbers) grows past it within 100,000 inputs.
 */
export const MAX_HEAP_GROWTH_BYTES = 64 * 1024 * 1024

/** Share of inputs that are mutations of valid encodings (the rest are random bytes). */
export const MUTATED_SHARE = 0.8
