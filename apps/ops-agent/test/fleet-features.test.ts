/**
 * ops-agent fleet features end to end on real agent processes: scripts, file push down the tree (a relay killed
 * mid-push in one test), host status, async jobs collected by a later controller process, rolling batches.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '@pnet/network/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AgentProc,
  controllerKey,
  killAll,
  opsAgent,
  opsAgentProc,
  parseJsonRun,
  startTree,
  tempDir,
} from './fixture.js'

afterAll(() => killAll())

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('ops-agent fleet features on a tree of 10 agents (root, 3 relays, 6 leaves two hops below)', {
  timeout: 180_000,
}, () => {
  let dir = ''
  let ctl = { key: '', peer: '' }
  let agents: AgentProc[] = []
  const run = (cmd: string, args: string[], timeoutMs?: number) =>
    opsAgent([cmd, '--key', ctl.key, '--via', agents[0]!.addr, ...args], timeoutMs)

  beforeAll(async () => {
    dir = await tempDir('ops-features-')
    ctl = await controllerKey(dir)
    agents = await startTree(dir, 10, 3, [ctl.peer], i => ({ half: i < 5 ? 'a' : 'b' }))
  }, 120_000)

  it('script: pushes the content and runs it with arguments, with sh and python3', async () => {
    const sh = join(dir, 'hello.sh')
    await writeFile(sh, 'echo "args:$1,$2 host:$(cat /proc/sys/kernel/hostname | wc -c)"; exit 0\n')
    const r = await run('script', [sh, '--target', 'half=a', '--json', '--', 'one', 'two words'])
    const out = parseJsonRun(r.stdout)
    expect(out.summary).toMatchObject({ targeted: 5, ok: 5 })
    for (const h of out.hosts) expect(h.stdout).toMatch(/^args:one,two words host:\d+\n$/)
    const py = join(dir, 'calc.py')
    await writeFile(py, 'import sys\nprint(int(sys.argv[1]) * 7)\nsys.exit(3)\n')
    const p = await run('script', [py, '--interpreter', 'python3', '--target', '*', '--json', '--', '6'])
    expect(p.code).toBe(1)
    const pout = parseJsonRun(p.stdout)
    expect(pout.summary).toMatchObject({ targeted: 10, failed: 10 })
    for (const h of pout.hosts) expect(h).toMatchObject({ stdout: '42\n', exitCode: 3, status: 'failed' })
    // nothing of the script is left behind on the hosts
    const bad = await run('script', [join(dir, 'missing.sh'), '--target', '*'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/cannot read script .*missing\.sh/)
  })

  it('push: 50 MiB to all 10 agents byte-exact, mode set, the controller sending each byte once', async () => {
    const data = randomBytes(50 * 1024 * 1024)
    const local = join(dir, 'big.bin')
    await writeFile(local, data)
    const r = await run(
      'push',
      [local, join(dir, 'dest-{host}.bin'), '--mode', '0640', '--target', '*', '--json'],
      180_000,
    )
    expect(parseJsonRun(r.stdout).summary).toMatchObject({ targeted: 10, ok: 10 })
    for (const a of agents) {
      const got = await readFile(join(dir, `dest-${a.name}.bin`))
      expect(sha(got)).toBe(sha(data))
    }
    const { statSync } = await import('node:fs')
    expect(statSync(join(dir, 'dest-agent-7.bin')).mode & 0o777).toBe(0o640)
    expect((await readdir(dir)).filter(f => f.endsWith('.part'))).toEqual([])
  }, 240_000)

  it('status: every host answers with sane facts; the table names them', async () => {
    const r = await run('status', ['--target', '*', '--json'])
    const out = parseJsonRun(r.stdout)
    expect(out.summary).toMatchObject({ targeted: 10, ok: 10 })
    for (const h of out.hosts) {
      const f = (h as unknown as { facts: Record<string, unknown> }).facts
      expect(f).toMatchObject({ os: { platform: 'linux' }, arch: process.arch, agentVersion: expect.any(String) })
      expect((f.kernel as { release: string }).release).toMatch(/^\d+\.\d+/)
      expect((f.cpu as { count: number }).count).toBeGreaterThan(0)
      expect((f.memory as { totalBytes: number }).totalBytes).toBeGreaterThan(64 * 1024 * 1024)
      expect((f.disks as unknown[]).length).toBeGreaterThan(0)
      expect(f.uptimeSeconds as number).toBeGreaterThan(0)
    }
    const table = await run('status', ['--target', 'host=agent-[12]'])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/agent-1/)
    expect(table.stdout).toMatch(/agent-2/)
  })

  it('--async returns a job ID at once; a later controller process collects the results, also with --wait', async () => {
    const r = await run('exec', ['--target', 'half=b', '--async', '--', 'sh', '-c', `sleep 8; echo finished`])
    expect(r.code).toBe(0)
    const id = /job ([0-9a-f]{32}) started on 5 of 5 hosts/.exec(r.stdout)?.[1]
    expect(id, r.stdout + r.stderr).toBeDefined()
    const early = await run('job', [id!, '--json'])
    const earlyOut = early.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { status?: string; summary?: unknown })
    expect(earlyOut.filter(l => l.status === 'running').length, early.stdout + early.stderr).toBeGreaterThan(0)
    const done = await run('job', [id!, '--wait', '--json'], 60_000)
    const out = parseJsonRun(done.stdout)
    expect(out.summary).toMatchObject({ targeted: 5, ok: 5 })
    for (const h of out.hosts) expect(h.stdout).toBe('finished\n')
    expect(done.code).toBe(0)
    const list = await opsAgent(['jobs'])
    expect(list.stdout).toContain(id!)
  })

  it('--batch with --max-failures stops the rolling run and names the hosts that never ran', async () => {
    const r = await run('exec', ['--target', '*', '--batch', '2', '--max-failures', '2', '--', 'sh', '-c', 'exit 1'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/2 failed/)
    expect(r.stderr).toMatch(/never ran on 8 hosts: /)
  })

  it('push: a relay killed mid-push fails the hosts below it; the others get the file; no partial file at the destination', async () => {
    const data = randomBytes(20 * 1024 * 1024)
    const local = join(dir, 'big2.bin')
    await writeFile(local, data)
    const c = opsAgentProc([
      'push',
      '--key',
      ctl.key,
      '--via',
      agents[0]!.addr,
      local,
      join(dir, 'second-{host}.bin'),
      '--target',
      '*',
      '--timeout',
      '120s',
      '--json',
    ])
    // agent-1 relays for agents 4, 5 and 6: kill it once their temporary files are being written
    await waitFor(
      async () => (await readdir(dir)).some(f => f.startsWith('.second-agent-4.bin') && f.endsWith('.part')),
      'the push to reach agent-4',
      60_000,
    )
    agents[1]!.proc.kill('SIGKILL')
    expect(await c.done).toBe(1)
    const out = parseJsonRun(c.out())
    expect(out.summary.targeted).toBe(10)
    const byHost = new Map(out.hosts.map(h => [h.host, h.status]))
    for (const n of [0, 2, 3, 7, 8, 9]) expect(byHost.get(`agent-${n}`)).toBe('ok')
    for (const n of [1, 4, 5, 6]) {
      const status = out.hosts.find(h => h.peer === agents[n]!.peer)?.status
      expect(['failed', 'unreachable']).toContain(status)
      expect(existsSync(join(dir, `second-agent-${n}.bin`))).toBe(false)
    }
    for (const n of [0, 2, 3, 7, 8, 9]) expect(sha(await readFile(join(dir, `second-agent-${n}.bin`)))).toBe(sha(data))
    // the orphaned agents learn at once that their way back is gone (well before the 120 s push timeout), and
    // remove their temporary files
    await waitFor(
      async () => !(await readdir(dir)).some(f => /^\.second-agent-[456]\.bin.*\.part$/.test(f)),
      'orphaned temporary files to be removed',
      20_000,
    )
  }, 240_000)
})
