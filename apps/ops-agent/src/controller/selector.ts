/**
 * Target selectors, Salt/pdsh style:
 *
 * - `*` — every agent
 * - `id=<peerId>` — one agent
 * - `host=<glob>` — by hostname (`web-*`, `db-[12]`, `node?`)
 * - `<tag>=<glob>` — by tag (`role=web`, `os=linux`, `dc=eu-*`)
 *
 * Terms joined by `,` must all match; repeated `--target` flags are alternatives.
 *
 * @example
 * ```ts
 * const sel = parseSelectors(['role=web,dc=eu-*', 'host=db-1'])
 * sel.matches({ peer: '12D3…', tags: { hostname: 'web-3', role: 'web', dc: 'eu-west' } })   // true
 * ```
 */

export class SelectorError extends Error {
  readonly code = 'ERR_BAD_SELECTOR'
  constructor(selector: string, reason: string) {
    super(`bad --target "${selector}": ${reason}`)
    this.name = 'SelectorError'
  }
}

export interface Subject {
  /** the agent's peer ID */
  peer: string
  /** hostname, os, arch and the agent's own --tag values */
  tags: Record<string, string>
}

interface Term {
  key: string
  pattern: RegExp | undefined
  value: string
}

export interface Selectors {
  /** the selectors as given */
  readonly text: string[]
  /** true when every agent is meant (a bare `*` alternative) */
  readonly all: boolean
  /** peer IDs named by `id=` in every alternative, when that is all the selectors say (no inventory needed) */
  readonly ids: string[] | undefined
  matches(subject: Subject): boolean
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/

/** Compiles a glob (`*`, `?`, `[…]`) into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1)
      if (end < 0) {
        re += '\\['
        continue
      }
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\')
      re += body.startsWith('!') ? `[^${body.slice(1)}]` : `[${body}]`
      i = end
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

function parseOne(text: string): Term[] | 'all' {
  const trimmed = text.trim()
  if (trimmed === '') throw new SelectorError(text, 'empty')
  if (trimmed === '*') return 'all'
  return trimmed.split(',').map(part => {
    const eq = part.indexOf('=')
    if (eq <= 0) throw new SelectorError(text, `"${part}" is not key=value (use *, id=…, host=… or <tag>=…)`)
    const key = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (!KEY.test(key)) throw new SelectorError(text, `"${key}" is not a valid tag name`)
    if (value === '') throw new SelectorError(text, `"${key}=" needs a value`)
    if (key === 'id') {
      if (!/^[1-9A-HJ-NP-Za-km-z]{40,60}$/.test(value)) throw new SelectorError(text, `"${value}" is not a peer ID`)
      return { key, pattern: undefined, value }
    }
    return { key: key === 'host' ? 'hostname' : key, pattern: globToRegExp(value), value }
  })
}

/**
 * Parses `--target` values (alternatives), each a `,`-joined conjunction of terms.
 *
 * @example
 * ```ts
 * parseSelectors(['*']).all   // true
 * ```
 */
export function parseSelectors(texts: string[]): Selectors {
  if (texts.length === 0) throw new SelectorError('', 'at least one --target is needed (use * for every agent)')
  const alternatives = texts.map(parseOne)
  const all = alternatives.includes('all')
  const conj = alternatives.filter((a): a is Term[] => a !== 'all')
  const onlyIds = !all && conj.every(terms => terms.length === 1 && terms[0]!.key === 'id')
  return {
    text: texts,
    all,
    ids: onlyIds ? [...new Set(conj.map(t => t[0]!.value))] : undefined,
    matches(subject: Subject): boolean {
      if (all) return true
      return conj.some(terms =>
        terms.every(t =>
          t.key === 'id'
            ? subject.peer === t.value
            : t.pattern!.test(subject.tags[t.key] ?? '') && t.key in subject.tags,
        ),
      )
    },
  }
}
