/**
 * ops-agent end to end: real agent processes in a tree and in a line, the controller CLI driving them through the
 * one agent it knows.
 */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateKey } from '@pnet/network'
import { waitFor } from '@pnet/network/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeSignedJob, JOB_CHANNEL, joinFleet, signJob } from '../src/index.js'
import {
  type AgentProc,
  audit,
  controllerKey,
  killAll,
  opsAgent,
  opsAgentProc,
  parseJsonRun,
  startTree,
  tempDir,
} from './fixture.js'

const alive = (marker: string): boolean => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim() !== ''
  } catch {
    return false
  }
}

afterAll(() => killAll())

describe('ops-agent exec on a tree of 7 agents (3 levels, controller attached to the root)', {
  timeout: 180_000,
}, () => {
  let dir = ''
  let ctl = { key: '', peer: '' }
  let agents: AgentProc[] = []
  const tags = (i: number) => ({ role: i % 2 === 0 ? 'web' : 'db', dc: i < 4 ? 'eu-west' : 'us-east' })
  const exec = (args: string[], extra: string[] = []) =>
    opsAgent([
      'exec',
      '--key',
      ctl.key,
      '--via',
      agents[0]!.addr,
      ...extra,
      ...args.flatMap(t => ['--target', t]),
      '--json',
      '--',
      'hostname',
    ])

  beforeAll(async () => {
    dir = await tempDir('ops-tree-')
    ctl = await controllerKey(dir)
    agents = await startTree(dir, 7, 2, [ctl.peer], tags)
  }, 120_000)

  it('* reaches every agent through the root; output is each host; counts add up', async () => {
    const r = await opsAgent([
      'exec',
      '--key',
      ctl.key,
      '--via',
      agents[0]!.addr,
      '--target',
      '*',
      '--',
      'sh',
      '-c',
      'echo hello; echo warn >&2',
    ])
    expect(r.code).toBe(0)
    for (const a of agents) {
      expect(r.stdout).toContain(`${a.name}: hello\n`)
      expect(r.stderr).toContain(`${a.name}: warn\n`)
    }
    expect(r.stdout).toContain('agent-[0-6] (7)')
    expect(r.stdout).toMatch(/7 hosts: 7 ok in [\d.]+ s/)
    const json = parseJsonRun((await exec(['*'])).stdout)
    expect(json.summary).toMatchObject({ targeted: 7, ok: 7 })
    expect(json.hosts.map(h => h.host).sort()).toEqual(agents.map(a => a.name).sort())
    expect(new Set(json.hosts.map(h => h.stdout))).toEqual(new Set([`${hostname()}\n`])) // the OS hostname, run for real
  })

  it('selects by id=, host= glob, tag, tag AND tag, and alternatives', async () => {
    const hostsOf = async (targets: string[]) =>
      parseJsonRun((await exec(targets)).stdout)
        .hosts.map(h => h.host)
        .sort()
    expect(await hostsOf([`id=${agents[5]!.peer}`])).toEqual(['agent-5'])
    expect(await hostsOf(['host=agent-[12]'])).toEqual(['agent-1', 'agent-2'])
    expect(await hostsOf(['role=web'])).toEqual(['agent-0', 'agent-2', 'agent-4', 'agent-6'])
    expect(await hostsOf(['role=web,dc=eu-*'])).toEqual(['agent-0', 'agent-2'])
    expect(await hostsOf(['role=db,dc=us-east', 'host=agent-0'])).toEqual(['agent-0', 'agent-5'])
    const none = await exec(['role=nothing'])
    expect(none.code).toBe(1)
    expect(parseJsonRun(none.stdout).summary.targeted).toBe(0)
  })

  it('an untrusted controller is refused by every agent, and each audit log says why', async () => {
    const stranger = await controllerKey(await tempDir('ops-stranger-'))
    const r = await opsAgent([
      'exec',
      '--key',
      stranger.key,
      '--via',
      agents[0]!.addr,
      '--target',
      '*',
      '--json',
      '--',
      'touch',
      '/tmp/should-not-exist',
    ])
    expect(r.code).toBe(1)
    const run = parseJsonRun(r.stdout)
    // an untrusted controller is not told who the hosts are: they are named by peer ID
    expect(run.hosts.map(h => `${h.peer} ${h.status} ${h.reason}`).sort()).toEqual(
      agents.map(a => `${a.peer} refused controller ${stranger.peer} is not trusted`).sort(),
    )
    for (const a of agents) {
      const lines = await audit(a)
      expect(lines.some(l => l.decision === 'refused' && l.reason?.includes('not trusted'))).toBe(true)
    }
  })

  it('a timeout kills the command and everything it started', async () => {
    const marker = `41.${process.pid}`
    const r = await opsAgent([
      'exec',
      '--key',
      ctl.key,
      '--via',
      agents[0]!.addr,
      '--target',
      'host=agent-[34]',
      '--timeout',
      '1s',
      '--json',
      '--',
      'sh',
      '-c',
      `sleep ${marker} & sleep ${marker}`,
    ])
    expect(r.code).toBe(1)
    const run = parseJsonRun(r.stdout)
    expect(run.hosts.map(h => [h.host, h.status, h.reason]).sort()).toEqual([
      ['agent-3', 'timeout', undefined],
      ['agent-4', 'timeout', undefined],
    ])
    expect(run.hosts.every(h => h.status === 'timeout' && h.exitCode === null)).toBe(true)
    await waitFor(() => !alive(marker), 'the sleeps to be gone', 5_000)
  })

  it('Ctrl-C cancels the job on every host, kills the commands and still prints the summary', async () => {
    const marker = `42.${process.pid}`
    const c = opsAgentProc(['exec', '--key', ctl.key, '--via', agents[0]!.addr, '--target', '*', '--', 'sleep', marker])
    const started = async () =>
      (await Promise.all(agents.map(audit))).every(lines =>
        lines.some(l => l.decision === 'accepted' && l.argv?.includes(marker)),
      )
    await waitFor(started, 'every agent to start the command', 20_000)
    c.proc.kill('SIGINT')
    expect(await c.done).toBe(130) // 128 + SIGINT, as a shell reports it
    expect(c.out()).toMatch(/7 hosts: 0 ok, 7 cancelled/)
    await waitFor(() => !alive(marker), 'the remote sleeps to be killed', 10_000)
  })

  it('a request delivered twice is executed once', async () => {
    const key = await loadOrCreateKey(ctl.key)
    const fleet = await joinFleet({ key, via: agents[0]!.addr })
    try {
      const target = agents[6]!
      const marker = join(target.dataDir, 'ran.txt')
      const signed = await signJob(key, {
        kind: 'exec',
        targets: [target.peer],
        command: { argv: ['sh', '-c', `echo x >> ${marker}`], timeoutMs: 5_000, killGraceMs: 500 },
      })
      const peer = fleet.peers().find(p => p.toString() === target.peer)!
      for (let i = 0; i < 3; i++) await fleet.node.broadcast(JOB_CHANNEL, encodeSignedJob(signed), { targets: [peer] })
      await waitFor(
        async () => (await audit(target)).some(l => l.job === signed.job.id && l.decision === 'finished'),
        'the job to finish',
      )
      await waitFor(
        async () =>
          (await audit(target)).filter(l => l.job === signed.job.id && l.decision === 'duplicate').length === 2,
        'both duplicates logged',
      )
      const lines = (await audit(target)).filter(l => l.job === signed.job.id)
      expect(lines.map(l => l.decision).sort()).toEqual(['accepted', 'duplicate', 'duplicate', 'finished'])
      expect(await readFile(marker, 'utf8')).toBe('x\n')
    } finally {
      await fleet.close()
    }
  })
})

describe('ops-agent on a line of 4 agents', { timeout: 180_000 }, () => {
  it('reaches the far end (4 hops); an agent killed mid-job is reported unreachable, the rest ok, counts add up', async () => {
    const dir = await tempDir('ops-line-')
    const ctl = await controllerKey(dir)
    const line = await startTree(dir, 4, 1, [ctl.peer])
    const nodes = JSON.parse(
      (await opsAgent(['nodes', '--key', ctl.key, '--via', line[0]!.addr, '--json'])).stdout,
    ) as {
      peer: string
      host: string
      hops: number
    }[]
    expect(nodes.map(n => [n.host, n.hops]).sort()).toEqual([
      ['agent-0', 1],
      ['agent-1', 2],
      ['agent-2', 3],
      ['agent-3', 4],
    ])
    const c = opsAgentProc([
      'exec',
      '--key',
      ctl.key,
      '--via',
      line[0]!.addr,
      '--target',
      '*',
      '--json',
      '--',
      'sleep',
      '3',
    ])
    await waitFor(
      async () => (await audit(line[3]!)).some(l => l.decision === 'accepted'),
      'the far end to start',
      20_000,
    )
    line[3]!.proc.kill('SIGKILL')
    expect(await c.done).toBe(1)
    const run = parseJsonRun(c.out())
    expect(run.summary).toMatchObject({ targeted: 4, ok: 3, unreachable: 1 })
    // killed before it may have said its hostname: it is named by peer ID then, and never missing
    expect(run.hosts.find(h => h.peer === line[3]!.peer)).toMatchObject({ status: 'unreachable' })
  })
})
