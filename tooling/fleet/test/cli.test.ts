import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import { alive } from '../src/index.js'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

describe('fleet CLI', () => {
  it('start prints the agents and the root, runs until SIGTERM, then stops everything and exits 0', async () => {
    const child = spawn(process.execPath, [cli, 'start', '--count', '3', '--topology', 'line', '--per-process', '3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    await waitFor(() => out.includes('ready 3 agents\n'), 'ready', 60_000)
    const lines = out.trim().split('\n')
    const agents = lines.filter(l => l.startsWith('agent '))
    expect(agents).toHaveLength(3)
    expect(agents[2]).toMatch(
      /^agent agent-002 12D3Koo\w+ \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo\w+ depth 2 pid \d+$/,
    )
    const root = lines.find(l => l.startsWith('root '))!.slice(5)
    expect(agents[0]).toContain(root)
    expect(lines.find(l => l.startsWith('controller-key '))).toMatch(/controller\.key$/)
    const pids = [...new Set(agents.map(a => Number(a.split(' ').pop())))]
    expect(pids.every(alive)).toBe(true)
    child.kill('SIGTERM')
    const code = await new Promise(r => child.once('exit', r))
    expect(code).toBe(0)
    expect(pids.some(alive)).toBe(false)
  })

  it('usage errors exit 2 with a message naming the problem', () => {
    const r = spawnSync(process.execPath, [cli, 'start', '--count', '3', '--topology', 'ring'], { encoding: 'utf8' })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('unknown topology "ring"')
    const n = spawnSync(process.execPath, [cli, 'start'], { encoding: 'utf8' })
    expect(n.status).toBe(2)
    expect(n.stderr).toContain('--count is required')
  })
})
