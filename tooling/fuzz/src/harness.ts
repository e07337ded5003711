/**
 * The fuzz loop: feeds a target random and mutated inputs, and fails on anything but its documented typed error,
 * on a property the target checks (e.g. "no byte was delivered that was not sent"), on a hang, or on heap growth.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { HANG_MS, HEAP_SAMPLE_EVERY, MAX_HEAP_GROWTH_BYTES, MUTATED_SHARE } from './limits.js'
import { nextInput, Rng } from './rng.js'

export interface FuzzTarget {
  /** what is fuzzed, e.g. `router: control update` */
  name: string
  /** the typed error(s) the decoder documents */
  expects: string
  /** valid encodings to mutate: each must decode */
  seeds(): Promise<Uint8Array[]>
  /** more inputs to mutate that the decoder refuses (well-formed but expired, untrusted, …) */
  corpus?(): Promise<Uint8Array[]>
  /**
   * Decodes one input. Returns normally when the input was decoded (or is incomplete, for stream decoders);
   * throws the decoder's error otherwise. A violated property is thrown as `PropertyViolation`.
   */
  run(input: Uint8Array, rng: Rng): void | Promise<void>
  /** true for the decoder's documented typed error(s) */
  expected(err: unknown): boolean
}

/** A target-checked property did not hold: always a failure, whatever the error type. */
export class PropertyViolation extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PropertyViolation'
  }
}

export interface Failure {
  input: string
  error: string
}

export interface FuzzResult {
  name: string
  runs: number
  decoded: number
  rejected: number
  failures: Failure[]
  /** slowest single input */
  maxMs: number
  heapGrowthBytes: number
  elapsedMs: number
}

let gc: (() => void) | undefined
function collect(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

function heap(): number {
  collect()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/**
 * Runs `runs` inputs through `target`. Failures (at most 10 kept, with their input in hex) are returned, not thrown.
 *
 * @example
 * ```ts
 * const r = await fuzz(relayOpenTarget, { runs: 10_000, seed: 1 })
 * if (r.failures.length > 0) console.error(r.failures[0])
 * ```
 */
export async function fuzz(target: FuzzTarget, opts: { runs: number; seed: number }): Promise<FuzzResult> {
  const rng = new Rng(opts.seed)
  const seeds = await target.seeds()
  const result: FuzzResult = {
    name: target.name,
    runs: 0,
    decoded: 0,
    rejected: 0,
    failures: [],
    maxMs: 0,
    heapGrowthBytes: 0,
    elapsedMs: 0,
  }
  const fail = (input: Uint8Array, error: string): void => {
    if (result.failures.length < 10) result.failures.push({ input: hex(input), error })
  }
  // every seed must decode: otherwise the mutations start from garbage and prove little
  for (const s of seeds) {
    try {
      await target.run(s, rng)
    } catch (err) {
      fail(s, `a valid seed was refused: ${String(err)}`)
    }
  }
  const bases = [...seeds, ...((await target.corpus?.()) ?? [])]
  const start = performance.now()
  const base = heap()
  let peak = 0
  for (let i = 0; i < opts.runs; i++) {
    const input = nextInput(rng, bases, MUTATED_SHARE)
    const t0 = performance.now()
    try {
      const r = target.run(input, rng)
      if (r instanceof Promise) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          r,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new PropertyViolation(`no answer within ${HANG_MS} ms (hang)`)), HANG_MS)
          }),
        ]).finally(() => clearTimeout(timer))
      }
      result.decoded++
    } catch (err) {
      if (err instanceof PropertyViolation || !target.expected(err)) {
        fail(input, err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err))
      } else result.rejected++
    }
    const ms = performance.now() - t0
    if (ms > result.maxMs) result.maxMs = ms
    if (ms > HANG_MS) fail(input, `took ${ms.toFixed(0)} ms (hang)`)
    result.runs++
    // a synchronous decoder's promise reactions (settled handshakes, …) run only when we yield: yield often, and
    // always before sampling, or the queue itself looks like a leak
    if ((i + 1) % 64 === 0) await new Promise(r => setImmediate(r))
    if ((i + 1) % HEAP_SAMPLE_EVERY === 0) peak = Math.max(peak, heap() - base)
  }
  await new Promise(r => setImmediate(r))
  result.heapGrowthBytes = Math.max(peak, heap() - base)
  if (result.heapGrowthBytes > MAX_HEAP_GROWTH_BYTES) {
    result.failures.push({
      input: '',
      error: `heap grew by ${(result.heapGrowthBytes / 2 ** 20).toFixed(1)} MiB over ${result.runs} inputs`,
    })
  }
  result.elapsedMs = performance.now() - start
  return result
}
