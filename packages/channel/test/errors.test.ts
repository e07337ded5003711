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
  ChannelError: ['something failed', 'ERR_CHANNEL_CLOSED', '/pnet/echo', '12D3KooA'],
  NoSuchChannelError: ['/pnet/echo', '12D3KooA'],
  VersionUnsupportedError: ['/pnet/echo', '12D3KooA', { min: 3, max: 4 }, [{ min: 1, max: 2 }]],
  UnauthorizedError: ['/pnet/echo', '12D3KooA', 'not on the allowlist'],
  OverloadedError: ['/pnet/echo', '12D3KooA'],
  ChannelHandshakeTimeoutError: ['/pnet/echo', '12D3KooA', 10_000],
  ChannelProtocolError: ['/pnet/echo', '12D3KooA', 'bad frame'],
  ChannelAbortedError: ['/pnet/echo', '12D3KooA'],
  ChannelClosedError: ['/pnet/echo', '12D3KooA', 'stream reset by the remote'],
  MessageTooLargeError: ['/pnet/echo', '12D3KooA', 11, 10, 'send'],
  RemoteError: ['/pnet/echo', '12D3KooA', 'TypeError', 'bad argument', 'E_ARG'],
  DuplicateChannelError: ['/pnet/echo'],
  UnsupportedRequestError: ['/pnet/echo', '12D3KooA', 'streams'],
  CapabilityError: ['expired'],
}

const classes: [string, ErrorClass][] = Object.entries(api as Record<string, unknown>).flatMap(([name, v]) =>
  typeof v === 'function' && v.prototype instanceof Error ? [[name, v as ErrorClass] as [string, ErrorClass]] : [],
)
const make = (name: string, Cls: ErrorClass): AnyError => new Cls(...(samples[name] ?? []))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('errors of @pnet/channel', () => {
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
