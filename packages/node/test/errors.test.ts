/**
 * The error convention, checked on every error class the package exports: a literal \`name\` equal to the class
 * name (kept by a subclass or a bundler that renames the class), a \`code\` in libp2p's ERR_UPPER_SNAKE style,
 * and that code listed in the package README, where users look for what to branch on.
 */
import { readFileSync } from 'node:fs'
import { generateKey, memory } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

type AnyError = Error & { code?: unknown }
/** any[]: a class expression extending it (a mixin) needs a constructor type taking any[] */
type ErrorClass = new (...args: any[]) => AnyError

/** constructor arguments for each exported error class; a new class without an entry fails the first test */
const samples: Record<string, unknown[]> = {}

const classes: [string, ErrorClass][] = Object.entries(api as Record<string, unknown>).flatMap(([name, v]) =>
  typeof v === 'function' && v.prototype instanceof Error ? [[name, v as ErrorClass] as [string, ErrorClass]] : [],
)
const make = (name: string, Cls: ErrorClass): AnyError => new Cls(...(samples[name] ?? []))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('errors of @pnet/node', () => {
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

  it('what a node throws comes from its layers, with their names and codes (listed in the README)', async () => {
    const node = await api.createNode({ key: await generateKey(), transports: [memory()], logger: api.silentLogger })
    const stranger = await api.createNode({
      key: await generateKey(),
      transports: [memory()],
      logger: api.silentLogger,
    })
    try {
      const noRoute = await node.openStream(stranger.id, 'echo').catch((e: AnyError) => e)
      expect(noRoute).toMatchObject({ name: 'NoRouteError', code: 'ERR_NO_ROUTE' })
      node.handle('echo', async () => {})
      let duplicate: unknown
      try {
        node.handle('echo', async () => {})
      } catch (e) {
        duplicate = e
      }
      expect(duplicate).toMatchObject({ name: 'DuplicateChannelError', code: 'ERR_DUPLICATE_CHANNEL' })
      for (const code of ['ERR_NO_ROUTE', 'ERR_DUPLICATE_CHANNEL']) expect(readme).toContain(`\`${code}\``)
    } finally {
      await node.stop()
      await stranger.stop()
    }
  })
})
