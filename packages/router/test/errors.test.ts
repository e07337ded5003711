/**
 * The error convention, checked on every error class the package exports: a literal \`name\` equal to the class
 * name (kept by a subclass or a bundler that renames the class), a \`code\` in libp2p's ERR_UPPER_SNAKE style,
 * and that code listed in the package README, where users look for what to branch on.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

type AnyError = Error & { code?: unknown }
/** any[]: a class expression extending it (a mixin) needs a constructor type taking any[] */
type ErrorClass = new (...args: any[]) => AnyError

/** constructor arguments for each exported error class; a new class without an entry fails the first test */
const samples: Record<string, unknown[]> = {
  MalformedMessageError: ['relay OPEN', 'kind 0x7f'],
  NoRouteError: ['12D3KooA'],
  RelayRefusedError: ['12D3KooA', '12D3KooB', 'NO_ROUTE', 'no route'],
  RelayBrokenError: ['12D3KooA', '12D3KooB', 'link lost'],
  RouterLimitError: ['maxBroadcastBytes', 'broadcast of 2 MiB'],
  InvalidDestinationError: ['12D3KooA', 'that is us'],
  RouterStoppedError: ['openStream'],
}

const classes: [string, ErrorClass][] = Object.entries(api as Record<string, unknown>).flatMap(([name, v]) =>
  typeof v === 'function' && v.prototype instanceof Error ? [[name, v as ErrorClass] as [string, ErrorClass]] : [],
)
const make = (name: string, Cls: ErrorClass): AnyError => new Cls(...(samples[name] ?? []))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('errors of @pnet/router', () => {
  it('every exported error class is checked here', () => {
    expect(classes.map(([name]) => name).filter(name => !(name in samples))).toEqual([])
  })

  it.each(classes)('%s has a literal name, an ERR_ code and a message, and the README lists the code', (name, Cls) => {
    const err = make(name, Cls)
    expect(err.name).toBe(name)
    expect(err.code).toMatch(/^ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/)
    expect(err.message.length).toBeGreaterThan(0)
    expect(String(err.stack).startsWith(`${name}: `)).toBe(true)
    const Renamed = class extends Cls {}
    expect(new Renamed(...(samples[name] ?? [])).name).toBe(name)
    expect(readme).toContain(`\`${String(err.code)}\``)
  })
})
