import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Job } from '../src/index.js'
import { JobStore } from '../src/index.js'

const job = (id: string): Job => ({ v: 1, id, kind: 'exec', controller: 'c', issuedAt: 0, expiresAt: 0, targets: [] })

describe('job store', () => {
  it('claims a job ID exactly once, across instances and concurrent attempts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-store-'))
    const a = new JobStore(dir)
    const b = new JobStore(dir)
    await a.init()
    await b.init()
    const id = 'a'.repeat(32)
    const claims = await Promise.all([a.claim(job(id)), b.claim(job(id)), a.claim(job(id)), b.claim(job(id))])
    expect(claims.filter(Boolean)).toHaveLength(1)
  })

  it('marks jobs cut off by a restart as lost, and never runs them again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-store-'))
    const before = new JobStore(dir)
    await before.init()
    const id = 'b'.repeat(32)
    expect(await before.claim(job(id))).toBe(true)
    const after = new JobStore(dir)
    expect(await after.init()).toEqual([id])
    expect((await after.get(id))?.state).toBe('lost')
    expect(await after.claim(job(id))).toBe(false)
  })

  it('keeps results for the retention period, then prunes them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-store-'))
    const s = new JobStore(dir)
    await s.init()
    const id = 'c'.repeat(32)
    await s.claim(job(id))
    await s.finish(id, { status: 'ok' })
    expect((await s.get(id))?.result).toEqual({ status: 'ok' })
    expect(await s.prune(Date.now(), 60_000)).toBe(0)
    expect(await s.prune(Date.now() + 120_000, 60_000)).toBe(1)
    expect(await s.get(id)).toBeUndefined()
  })
})
