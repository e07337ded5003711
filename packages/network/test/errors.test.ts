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
  NetworkError: ['something failed', 'ERR_DIAL_FAILED'],
  InvalidAddressError: ['tcp://nowhere', 'no port'],
  NoTransportError: ['/ip4/127.0.0.1/udp/1', ['tcp']],
  TransportUnavailableError: ['quic', 'module missing'],
  DialError: ['/ip4/127.0.0.1/tcp/1', 'connection refused'],
  ListenError: ['/ip4/127.0.0.1/tcp/1', 'address in use'],
  AbortError: ['dial'],
  UnexpectedPeerError: ['/ip4/127.0.0.1/tcp/1', '12D3KooA', '12D3KooB'],
  HandshakeTimeoutError: ['/ip4/127.0.0.1/tcp/1', 10_000],
  HandshakeError: ['/ip4/127.0.0.1/tcp/1', 'bad signature'],
  ProtocolViolationError: ['12D3KooA', 'oversized frame'],
  TooManyConnectionsError: ['/ip4/127.0.0.1/tcp/1', 1024],
  TooManyConnectionsPerPeerError: ['12D3KooA', 4],
  TooManyPendingHandshakesError: ['/ip4/127.0.0.1/tcp/1', 64],
  TooManyStreamsError: ['outbound', '12D3KooA', 1024],
  ConnectionClosedError: ['12D3KooA'],
  IdleTimeoutError: ['12D3KooA', 300_000],
  StreamResetError: ['12D3KooA', '7'],
  StreamAbortedError: ['12D3KooA', '7', 'aborted locally'],
  StreamStateError: ['7', 'sink can be called only once'],
  KeyFileError: ['/tmp/node.key', 'mode 0644 is readable by others'],
}

const classes: [string, ErrorClass][] = Object.entries(api as Record<string, unknown>).flatMap(([name, v]) =>
  typeof v === 'function' && v.prototype instanceof Error ? [[name, v as ErrorClass] as [string, ErrorClass]] : [],
)
const make = (name: string, Cls: ErrorClass): AnyError => new Cls(...(samples[name] ?? []))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('errors of @pnet/network', () => {
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
