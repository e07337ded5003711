/**
 * Every decoder, 10,000 random and mutated inputs each (`npm run fuzz` runs 100,000): only the decoder's typed error
 * may escape, no property may break, no input may hang, the heap may not grow. And the harness itself catches each
 * kind of bad decoder.
 */
import { describe, expect, it } from 'vitest'
import {
  allTargets,
  CI_RUNS,
  type FuzzTarget,
  fuzz,
  MAX_HEAP_GROWTH_BYTES,
  MAX_INPUT_BYTES,
  nextInput,
  PropertyViolation,
  Rng,
} from '../src/index.js'

class TypedError extends Error {}
const typed = (err: unknown): boolean => err instanceof TypedError

function probe(name: string, run: FuzzTarget['run']): FuzzTarget {
  return { name, expects: 'TypedError', seeds: async () => [Uint8Array.of(1, 2, 3)], run, expected: typed }
}

describe('every decoder survives random and mutated input', () => {
  it('covers the decoders the issue names', () => {
    const names = allTargets.map(t => t.name).join('\n')
    for (const want of [
      /multistream-select/,
      /yamux/,
      /noise/,
      /channel: header/,
      /channel: length-prefixed frames/,
      /RPC/,
      /control messages/,
      /relay OPEN/,
      /relay STATUS/,
      /broadcast messages/,
      /broadcast delivery reports/,
      /signed jobs/,
      /report batches/,
    ]) {
      expect(names).toMatch(want)
    }
  })

  for (const target of allTargets) {
    it(`${target.name}: ${CI_RUNS} inputs, only ${target.expects}`, async () => {
      const r = await fuzz(target, { runs: CI_RUNS, seed: 0x5eed })
      expect(r.failures, JSON.stringify(r.failures.slice(0, 2), null, 2)).toEqual([])
      expect(r.runs).toBe(CI_RUNS)
      // the mutator reaches both outcomes (a fuzzer that only ever hits the first length check proves little)
      expect(r.rejected).toBeGreaterThan(0)
    })
  }
})

describe('the input generator', () => {
  it('does not cycle: 100,000 draws are (nearly) all distinct, whatever the seed', () => {
    for (const seed of [1, 20261122, 0xffffffff]) {
      const rng = new Rng(seed)
      const seen = new Set<number>()
      for (let i = 0; i < 100_000; i++) seen.add(rng.u32())
      expect(seen.size).toBeGreaterThan(99_990)
    }
  })

  it('never makes an input over MAX_INPUT_BYTES', () => {
    const rng = new Rng(7)
    const big = new Uint8Array(MAX_INPUT_BYTES)
    for (let i = 0; i < 2_000; i++) expect(nextInput(rng, [big], 0.9).byteLength).toBeLessThanOrEqual(MAX_INPUT_BYTES)
  })
})

describe('the harness catches bad decoders', () => {
  it('an untyped exception', async () => {
    const r = await fuzz(
      probe('throws TypeError', input => {
        if (input.length > 10) throw new TypeError('oops')
      }),
      { runs: 200, seed: 1 },
    )
    expect(r.failures.some(f => f.error.includes('TypeError: oops'))).toBe(true)
  })

  it('a violated property, even when thrown as the typed error class would be accepted', async () => {
    const r = await fuzz(
      probe('forges', input => {
        if (input[0] === 0) throw new PropertyViolation('forged')
        throw new TypedError('refused')
      }),
      { runs: 500, seed: 2 },
    )
    expect(r.failures.some(f => f.error.includes('forged'))).toBe(true)
  })

  it('a hang', async () => {
    let hung = false
    const r = await fuzz(
      probe('hangs', input => {
        if (hung || input.length <= 40) return
        hung = true
        return new Promise<void>(() => {})
      }),
      { runs: 200, seed: 3 },
    )
    expect(hung).toBe(true)
    expect(r.failures.some(f => f.error.includes('hang'))).toBe(true)
  })

  it('unbounded retention', async () => {
    const kept: Uint8Array[] = []
    const r = await fuzz(
      probe('leaks', () => {
        kept.push(new Uint8Array(16 * 1024))
      }),
      { runs: MAX_HEAP_GROWTH_BYTES / (16 * 1024) + 2_000, seed: 4 },
    )
    expect(r.failures.some(f => f.error.includes('heap grew'))).toBe(true)
    kept.length = 0
  })

  it('a seed the decoder refuses', async () => {
    const r = await fuzz(
      probe('refuses all', () => {
        throw new TypedError('no')
      }),
      { runs: 1, seed: 5 },
    )
    expect(r.failures[0]!.error).toMatch(/valid seed was refused/)
  })
})
