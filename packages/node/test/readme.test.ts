/**
 * Every ```ts block of the README runs, as a user would run it (readmeExamples in @pnet/network/testing); a block
 * that is not a whole program says why in its fence, ```ts no-run: <why>.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readmeExamples, tsBlocks } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'

readmeExamples('@pnet/node', new URL('..', import.meta.url))

describe('the top README', () => {
  it('has no TypeScript examples to run (its code blocks are shell commands)', () => {
    const top = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
    expect(tsBlocks(top)).toEqual([])
  })
})
