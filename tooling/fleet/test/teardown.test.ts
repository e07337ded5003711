import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import { alive } from '../src/index.js'

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

describe('teardown when the owner dies', () => {
  it('the reaper kills every agent and worker process and removes the temp dirs when the process that started the fleet is SIGKILLed', async () => {
    const script = `
      import { startFleet } from ${JSON.stringify(dist)}
      const fleet = await startFleet({ count: 4, topology: 'star', agentsPerProcess: 2, waitForRoutes: false })
      const solo = await startFleet({ count: 1, agentsPerProcess: 1 })
      console.log(JSON.stringify({ pids: [...fleet.pids(), ...solo.pids()], dirs: [fleet.dir, solo.dir] }))
      setInterval(() => {}, 1000)
    `
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const { pids, dirs } = await new Promise<{ pids: number[]; dirs: string[] }>((resolve, reject) => {
      let out = ''
      owner.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('\n')) resolve(JSON.parse(out) as { pids: number[]; dirs: string[] })
      })
      owner.once('exit', code => reject(new Error(`owner exited early (${code})`)))
    })
    expect(pids).toHaveLength(3) // two workers and one agent process
    expect(pids.every(alive)).toBe(true)
    owner.kill('SIGKILL') // no exit handler runs: only the reapers can clean up
    await waitFor(() => !pids.some(alive), 'the fleet processes to die', 10_000)
    await waitFor(() => !dirs.some(d => existsSync(d)), 'the temporary dirs to go', 10_000)
  })
})
