import { describe, expect, it } from 'vitest'
import { globToRegExp, parseSelectors, SelectorError } from '../src/index.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const web3 = { peer: PEER, tags: { hostname: 'web-3', role: 'web', dc: 'eu-west', os: 'linux' } }
const db1 = { peer: 'x', tags: { hostname: 'db-1', role: 'db', dc: 'us-east', os: 'linux' } }

describe('selectors', () => {
  it('matches *, id=, host= and tag globs; , is AND, repeated targets are OR', () => {
    expect(parseSelectors(['*']).matches(db1)).toBe(true)
    expect(parseSelectors([`id=${PEER}`]).matches(web3)).toBe(true)
    expect(parseSelectors([`id=${PEER}`]).matches(db1)).toBe(false)
    expect(parseSelectors(['host=web-*']).matches(web3)).toBe(true)
    expect(parseSelectors(['host=web-[12]']).matches(web3)).toBe(false)
    expect(parseSelectors(['host=web-[!12]']).matches(web3)).toBe(true)
    expect(parseSelectors(['host=web-?']).matches(web3)).toBe(true)
    expect(parseSelectors(['role=web,dc=eu-*']).matches(web3)).toBe(true)
    expect(parseSelectors(['role=web,dc=us-*']).matches(web3)).toBe(false)
    expect(parseSelectors(['role=db', 'dc=eu-*']).matches(web3)).toBe(true)
    expect(parseSelectors(['rack=*']).matches(web3)).toBe(false) // a tag the host does not have never matches
  })

  it('knows when only peer IDs were named (no inventory needed)', () => {
    expect(parseSelectors([`id=${PEER}`]).ids).toEqual([PEER])
    expect(parseSelectors(['*']).all).toBe(true)
    expect(parseSelectors(['role=web']).ids).toBeUndefined()
  })

  it('rejects malformed selectors naming them', () => {
    for (const [sel, msg] of [
      ['', 'empty'],
      ['role', 'is not key=value'],
      ['role=', 'needs a value'],
      ['9x=1', 'not a valid tag name'],
      ['id=nope', 'is not a peer ID'],
    ] as const) {
      expect(() => parseSelectors([sel])).toThrow(SelectorError)
      expect(() => parseSelectors([sel])).toThrow(msg)
    }
    expect(() => parseSelectors([])).toThrow('at least one --target')
  })

  it('compiles globs without letting regex syntax through', () => {
    expect(globToRegExp('a.b*').test('a.bcd')).toBe(true)
    expect(globToRegExp('a.b*').test('axbcd')).toBe(false)
    expect(globToRegExp('(x)').test('(x)')).toBe(true)
  })
})
