/**
 * Why a `--target` matched no host, and what the operator probably meant: `no host matches host=wbe*; did you mean
 * host=web*?`. A run that targets nothing cannot succeed (exit 1); saying only `0 hosts: 0 ok` leaves the operator
 * to guess between a typo, a tag no agent carries and an empty fleet.
 *
 * Suggestions come from what the inventory learned (every answering agent's hostname and tags): per term, the known
 * value closest to the glob by an edit distance in which `*`, `?` and `[…]` match what they would match for free,
 * so `wbe*` is one transposition away from `web-1` and the suggestion keeps the glob's shape (`web*`).
 */
import type { Subject } from './selector.js'

/** Edits allowed per literal character of the glob before a known value is no longer a plausible typo. */
const MAX_EDITS_PER_CHAR = 1 / 3

type Token =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'class'; text: string; re: RegExp }
  | { kind: 'lit'; c: string }

function tokens(glob: string): Token[] {
  const out: Token[] = []
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') out.push({ kind: 'star' })
    else if (c === '?') out.push({ kind: 'any' })
    else if (c === '[' && glob.indexOf(']', i + 1) > i) {
      const end = glob.indexOf(']', i + 1)
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\')
      const re = new RegExp(body.startsWith('!') ? `^[^${body.slice(1)}]$` : `^[${body}]$`)
      out.push({ kind: 'class', text: glob.slice(i, end + 1), re })
      i = end
    } else out.push({ kind: 'lit', c })
  }
  return out
}

const tokenText = (t: Token): string =>
  t.kind === 'star' ? '*' : t.kind === 'any' ? '?' : t.kind === 'class' ? t.text : t.c

/**
 * The fewest single-character edits (insert, delete, substitute, swap two neighbours) that make `glob` match
 * `value`, and the glob with those edits made (wildcards kept).
 *
 * @example
 * ```ts
 * globDistance('wbe*', 'web-1')   // { distance: 1, fixed: 'web*' }
 * ```
 */
export function globDistance(glob: string, value: string): { distance: number; fixed: string } {
  const t = tokens(glob)
  const v = [...value]
  const n = t.length
  const m = v.length
  // d[i][j]: edits for the first i tokens to match the first j characters
  const d = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(Number.POSITIVE_INFINITY))
  d[0]![0] = 0
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= m; j++) {
      if (i === 0 && j === 0) continue
      const tok = t[i - 1]
      let best = Number.POSITIVE_INFINITY
      if (tok?.kind === 'star') {
        best = Math.min(d[i - 1]![j]!, j > 0 ? d[i]![j - 1]! : best)
      } else {
        if (i > 0) best = d[i - 1]![j]! + 1 // drop the token
        if (j > 0) best = Math.min(best, d[i]![j - 1]! + 1) // insert the character
        if (i > 0 && j > 0) best = Math.min(best, d[i - 1]![j - 1]! + (fits(tok!, v[j - 1]!) ? 0 : 1))
        const prev = t[i - 2]
        if (
          i > 1 &&
          j > 1 &&
          tok?.kind === 'lit' &&
          prev?.kind === 'lit' &&
          tok.c === v[j - 2] &&
          prev.c === v[j - 1]
        ) {
          best = Math.min(best, d[i - 2]![j - 2]! + 1)
        }
      }
      d[i]![j] = best
    }
  }
  // walk back along one cheapest path, writing the glob that path makes match
  const out: string[] = []
  let i = n
  let j = m
  while (i > 0 || j > 0) {
    const tok = t[i - 1]
    const here = d[i]![j]!
    if (tok?.kind === 'star') {
      // the star takes as little as it can, so the literals around it are corrected rather than dropped
      if (d[i - 1]![j] === here) {
        out.push('*')
        i--
      } else j--
      continue
    }
    const prev = t[i - 2]
    if (i > 0 && j > 0 && d[i - 1]![j - 1]! + (fits(tok!, v[j - 1]!) ? 0 : 1) === here) {
      out.push(fits(tok!, v[j - 1]!) ? tokenText(tok!) : v[j - 1]!)
      i--
      j--
    } else if (
      i > 1 &&
      j > 1 &&
      tok?.kind === 'lit' &&
      prev?.kind === 'lit' &&
      tok.c === v[j - 2] &&
      prev.c === v[j - 1] &&
      d[i - 2]![j - 2]! + 1 === here
    ) {
      out.push(v[j - 1]!, v[j - 2]!)
      i -= 2
      j -= 2
    } else if (i > 0 && d[i - 1]![j]! + 1 === here) {
      i--
    } else {
      out.push(v[j - 1]!)
      j--
    }
  }
  return { distance: d[n]![m]!, fixed: out.reverse().join('') }
}

function fits(t: Token, c: string): boolean {
  return t.kind === 'any' || (t.kind === 'class' ? t.re.test(c) : t.kind === 'lit' && t.c === c)
}

/** Plain edit distance (with swaps), for tag names. */
function distance(a: string, b: string): number {
  return globDistance(a.replace(/[*?[]/g, '_'), b).distance
}

interface Term {
  key: string
  value: string
}

function terms(selector: string): Term[] | undefined {
  if (selector.trim() === '*') return undefined
  return selector.split(',').map(part => {
    const eq = part.indexOf('=')
    return { key: part.slice(0, eq).trim(), value: part.slice(eq + 1).trim() }
  })
}

/** The tag a selector key names (`host` is the `hostname` tag). */
const tagOf = (key: string): string => (key === 'host' ? 'hostname' : key)

/** A better term for one that matches no known agent, when a close one exists. */
function closer(term: Term, known: Subject[]): Term | undefined {
  if (term.key === 'id') return undefined
  const keys = new Set(known.flatMap(s => Object.keys(s.tags)))
  let key = term.key
  if (!keys.has(tagOf(key))) {
    // a tag no agent carries: the nearest tag name, if it is a plausible typo
    const near = [...keys, 'host']
      .map(k => ({ k, d: distance(key, k) }))
      .filter(x => x.d <= Math.max(1, Math.floor(key.length * MAX_EDITS_PER_CHAR)))
      .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k))[0]
    if (near === undefined) return undefined
    key = near.k
  }
  const values = [...new Set(known.map(s => s.tags[tagOf(key)]).filter((x): x is string => x !== undefined))]
  const literal = [...term.value].filter(c => !'*?[]!'.includes(c)).length
  const budget = Math.max(1, Math.floor(literal * MAX_EDITS_PER_CHAR))
  const best = values
    .map(v => ({ v, ...globDistance(term.value, v) }))
    .sort((a, b) => a.distance - b.distance || a.v.localeCompare(b.v))[0]
  if (best === undefined) return undefined
  if (best.distance === 0) return key === term.key ? undefined : { key, value: term.value }
  if (best.distance > budget) return key === term.key ? undefined : { key, value: term.value }
  return { key, value: best.fixed }
}

/**
 * What to tell the operator when `selectors` matched none of the agents the inventory heard from (`known`).
 *
 * @example
 * ```ts
 * noMatchMessage(['host=wbe*'], [{ peer: 'p', tags: { hostname: 'web-1' } }])
 * // 'no host matches host=wbe*; did you mean host=web*?'
 * ```
 */
export function noMatchMessage(selectors: string[], known: Subject[], reachable = known.length): string {
  const said = selectors.join(' or ')
  if (reachable === 0) return `no host matches ${said}: no agent is reachable through --via`
  if (known.length === 0) return `no host matches ${said}: none of the ${reachable} reachable agents said who it is`
  const better: string[] = []
  for (const sel of selectors) {
    const ts = terms(sel)
    if (ts === undefined) continue
    let changed = false
    const fixed = ts.map(t => {
      const c = closer(t, known)
      if (c === undefined) return t
      changed = true
      return c
    })
    if (changed) better.push(fixed.map(t => `${t.key}=${t.value}`).join(','))
  }
  return `no host matches ${said}${better.length > 0 ? `; did you mean ${better.join(' or ')}?` : ''}`
}
