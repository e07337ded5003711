import { describe, expect, it } from 'vitest'
import { globDistance, noMatchMessage } from '../src/controller/selector-hint.js'
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

describe('when selectors match nothing', () => {
  const known = [web3, db1, { peer: 'y', tags: { hostname: 'web-10', role: 'web', dc: 'eu-west', os: 'linux' } }]

  it('measures a glob against a value with wildcards free, and keeps the glob shape in the fix', () => {
    expect(globDistance('wbe*', 'web-1')).toEqual({ distance: 1, fixed: 'web*' })
    expect(globDistance('web-*', 'web-1')).toEqual({ distance: 0, fixed: 'web-*' })
    expect(globDistance('*wbe*', 'a-web-1')).toEqual({ distance: 1, fixed: '*web*' })
    expect(globDistance('db-[23]', 'db-1').distance).toBe(1)
    expect(globDistance('dc?', 'db-1').distance).toBe(2)
  })

  it('names the selector and suggests the closest known host name, tag value or tag name', () => {
    expect(noMatchMessage(['host=wbe*'], known)).toBe('no host matches host=wbe*; did you mean host=web*?')
    expect(noMatchMessage(['role=wbe'], known)).toBe('no host matches role=wbe; did you mean role=web?')
    expect(noMatchMessage(['rol=db'], known)).toBe('no host matches rol=db; did you mean role=db?')
    expect(noMatchMessage(['hots=db-1'], known)).toBe('no host matches hots=db-1; did you mean host=db-1?')
    // each term matches some host, only not together: nothing to correct
    expect(noMatchMessage(['role=web,dc=us-east'], known)).toBe('no host matches role=web,dc=us-east')
    expect(noMatchMessage(['role=zzzzzz'], known)).toBe('no host matches role=zzzzzz')
    expect(noMatchMessage(['host=wbe*', 'role=dbb'], known)).toBe(
      'no host matches host=wbe* or role=dbb; did you mean host=web* or role=db?',
    )
    expect(noMatchMessage(['*'], [], 0)).toMatch(/^no host matches \*: no agent is reachable/)
  })
})
