import { describe, expect, it } from 'vitest'
import { depths, FleetConfigError, levels, parents, seededRandom } from '../src/index.js'

describe('topology', () => {
  it('line: each agent joins the one before it', () => {
    expect(parents(5, 'line')).toEqual([-1, 0, 1, 2, 3])
    expect(depths(parents(5, 'line'))).toEqual([0, 1, 2, 3, 4])
  })

  it('tree: a complete tree filled breadth first', () => {
    expect(parents(7, 'tree', { branching: 2 })).toEqual([-1, 0, 0, 1, 1, 2, 2])
    expect(parents(13, 'tree')).toEqual([-1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]) // branching 3 by default
    expect(levels(parents(13, 'tree'))).toEqual([[0], [1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12]])
  })

  it('star: everyone joins the root', () => {
    expect(parents(4, 'star')).toEqual([-1, 0, 0, 0])
  })

  it('random: a parent is always an earlier agent, and the same seed gives the same tree', () => {
    const a = parents(200, 'random', { seed: 7 })
    expect(a.every((p, i) => (i === 0 ? p === -1 : p >= 0 && p < i))).toBe(true)
    expect(parents(200, 'random', { seed: 7 })).toEqual(a)
    expect(parents(200, 'random', { seed: 8 })).not.toEqual(a)
    expect(Math.max(...depths(a))).toBeLessThan(40) // a random recursive tree is shallow (~ e·ln n)
  })

  it('seededRandom is deterministic and in [0, 1)', () => {
    const r1 = seededRandom(3)
    const r2 = seededRandom(3)
    const xs = Array.from({ length: 1000 }, () => r1())
    expect(xs).toEqual(Array.from({ length: 1000 }, () => r2()))
    expect(xs.every(x => x >= 0 && x < 1)).toBe(true)
  })

  it('rejects a bad count, branching or topology by name', () => {
    expect(() => parents(0, 'line')).toThrow(FleetConfigError)
    expect(() => parents(3, 'tree', { branching: 0 })).toThrow('branching must be a positive integer, got 0')
    expect(() => parents(3, 'ring' as 'line')).toThrow('unknown topology "ring" (one of line, tree, star, random)')
  })
})
