/**
 * The error convention (errorConvention in @pnet/network/testing) on every error class this package exports — it
 * exports none of its own: what a node throws comes from its layers, with their names and codes, listed in the README.
 */
import { readFileSync } from 'node:fs'
import { generateKey, memory } from '@pnet/network'
import { errorConvention } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

type AnyError = Error & { code?: unknown }
const readmeFile = new URL('../README.md', import.meta.url)

errorConvention('@pnet/node', api as Record<string, unknown>, {}, readmeFile)

describe('errors a node user meets', () => {
  it('what a node throws comes from its layers, with their names and codes (listed in the README)', async () => {
    const readme = readFileSync(readmeFile, 'utf8')
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
