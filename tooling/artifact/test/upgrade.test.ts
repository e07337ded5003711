/**
 * `ops-agent upgrade` and `ops-agent uninstall` through the overlay, on agents installed from the artifact by deploy's
 * own install script (run with `sh -s` here instead of over ssh; the ssh part is deploy-ssh.test.ts). Two "hosts" are
 * two prefixes under a temp folder, each with its detached supervisor; the controller is the repo CLI, joined through
 * a seed agent. One upgrade succeeds (a second artifact stamped with another version), one with an artifact whose
 * runtime cannot start rolls back, and uninstall removes one host keeping its data and purges the other.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@pnet/network/testing'
import { detachedSupervisor, installScript } from 'ops-agent'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Artifact, buildArtifact, LAUNCHER, PLATFORM, writeArchive } from '../src/index.js'
import { artifact, killAll, REPO_CLI, runFile, start } from './helpers.js'

const NEW_VERSION = '0.1.1-upgrade-test'
const BROKEN_VERSION = '0.1.2-broken'

interface HostLine {
  peer: string
  host: string
  status: string
  stdout: string
  reason?: string
  summary?: Record<string, number>
}

interface NodeRow {
  peer: string
  host: string | null
  version: string | null
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** An artifact that passes every check (sha256, manifest) but whose runtime cannot start: tiny, built in the test. */
async function brokenArtifact(dir: string): Promise<string> {
  const name = `ops-agent-${BROKEN_VERSION}-${PLATFORM}`
  const root = join(dir, 'stage', name)
  await mkdir(join(root, 'bin'), { recursive: true })
  await mkdir(join(root, 'lib'), { recursive: true })
  const files: Record<string, string> = {
    'bin/ops-agent': LAUNCHER,
    'lib/node': '#!/bin/sh\necho "broken build: this runtime cannot start" >&2\nexit 1\n',
    'lib/ops-agent.mjs': '',
  }
  const sums: Record<string, string> = {}
  for (const [rel, text] of Object.entries(files)) {
    await writeFile(join(root, rel), text, { mode: rel.startsWith('lib/ops') ? 0o644 : 0o755 })
    sums[rel] = createHash('sha256').update(text).digest('hex')
  }
  const manifest = {
    name: 'ops-agent',
    version: BROKEN_VERSION,
    platform: PLATFORM,
    node: '0',
    quic: null,
    files: sums,
  }
  await writeFile(join(root, 'manifest.json'), JSON.stringify(manifest))
  const file = join(dir, `${name}.tar.gz`)
  await writeArchive(join(dir, 'stage'), name, file)
  return file
}

describe('ops-agent upgrade and uninstall through the overlay', () => {
  let dir: string
  let a: Artifact
  let b: Artifact
  let broken: string
  let key: string
  let seedAddr: string
  const hosts = ['h1', 'h2']
  const prefix = (h: string): string => join(dir, 'hosts', h)
  const supervisorPid = async (h: string): Promise<number> =>
    Number(await readFile(join(prefix(h), 'run', 'supervisor.pid'), 'utf8'))

  const cli = (args: string[], timeoutMs = 120_000) =>
    runFile(process.execPath, [REPO_CLI, ...args], { env: process.env, timeoutMs })
  const lines = (stdout: string): HostLine[] =>
    stdout
      .trim()
      .split('\n')
      .filter(l => l.startsWith('{'))
      .map(l => JSON.parse(l) as HostLine)
  const nodes = async (): Promise<NodeRow[]> => {
    const r = await cli(['nodes', '--key', key, '--via', seedAddr, '--json'])
    return r.code === 0 ? (JSON.parse(r.stdout) as NodeRow[]) : []
  }
  const versionOf = async (h: string): Promise<string | null | undefined> =>
    (await nodes()).find(n => n.host === h)?.version

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ops-upgrade-'))
    // both real artifacts come from the content-addressed cache after the first run
    a = await artifact()
    b = await buildArtifact({ version: NEW_VERSION })
    broken = await brokenArtifact(dir)
    key = join(dir, 'controller.key')
    const controller = (await cli(['keygen', '--key', key])).stdout.trim()
    const seed = start(
      process.execPath,
      [REPO_CLI, 'agent', '--data-dir', join(dir, 'seed'), '--listen', 'tcp://127.0.0.1:0', '--trust', controller],
      process.env,
    )
    await waitFor(() => /listening (\S+)/.test(seed.out()), `seed agent (${seed.err()})`, 20_000)
    seedAddr = /listening (\S+)/.exec(seed.out())![1]!
    for (const h of hosts) {
      // what deploy does over ssh: the artifact uploaded, then its install script run by sh
      const upload = join(dir, `upload-${h}.tar.gz`)
      await copyFile(a.path, upload)
      const args = ['--data-dir', join(prefix(h), 'data'), '--listen', 'tcp://127.0.0.1:0', '--join', seedAddr]
      args.push('--trust', controller, '--tag', `hostname=${h}`, '--tag', 'role=up', '--keepalive-ms', '500')
      const script = installScript({
        prefix: prefix(h),
        sha256: a.sha256,
        name: a.name,
        upload,
        args,
        service: detachedSupervisor,
      })
      const r = spawnSync('sh', ['-s'], {
        input: script,
        encoding: 'utf8',
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      })
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0)
      expect(r.stdout).toMatch(/^result changed=1 peer=\S+ service=detached$/m)
    }
    await waitFor(
      async () => (await nodes()).filter(n => n.version === '0.1.0' && hosts.includes(n.host ?? '')).length === 2,
      'both installed agents in the overlay',
      30_000,
    )
  }, 600_000)

  afterAll(async () => {
    for (const h of hosts) {
      const pid = await supervisorPid(h).catch(() => 0)
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGTERM')
    }
    killAll()
    await new Promise(r => setTimeout(r, 300))
    await rm(dir, { recursive: true, force: true })
  })

  it('upgrades both installed agents to the new version; the agent not installed by deploy refuses', async () => {
    const before = await Promise.all(hosts.map(supervisorPid))
    const r = await cli(['upgrade', '--key', key, '--via', seedAddr, '--target', '*', '--artifact', b.path, '--json'])
    expect(r.code, r.stderr).toBe(1) // the seed refused
    const out = lines(r.stdout)
    for (const h of hosts) {
      const line = out.find(l => l.host === h)
      expect(line, r.stdout).toMatchObject({ status: 'ok' })
      expect(line!.stdout).toContain(`upgraded 0.1.0 -> ${NEW_VERSION}`)
      expect(await readlink(join(prefix(h), 'current'))).toBe(join(prefix(h), 'releases', b.sha256))
    }
    const refused = out.filter(l => l.status === 'refused')
    expect(refused).toHaveLength(1)
    expect(refused[0]!.reason).toMatch(/not installed by ops-agent deploy/)
    expect(out.at(-1)!.summary).toMatchObject({ targeted: 3, ok: 2, refused: 1 })
    // the same supervisors restarted the agents (exit 75), now from the new release
    expect(await Promise.all(hosts.map(supervisorPid))).toEqual(before)
    await waitFor(async () => (await versionOf('h2')) === NEW_VERSION, 'nodes to show the new version', 15_000)
    expect(await versionOf('h1')).toBe(NEW_VERSION)
  }, 90_000)

  it('rolls back an agent whose new release cannot start, and reports it failed with the reason', async () => {
    const r = await cli([
      'upgrade',
      '--key',
      key,
      '--via',
      seedAddr,
      '--target',
      'host=h1',
      '--artifact',
      broken,
      '--health-timeout',
      '5s',
      '--json',
    ])
    expect(r.code, r.stderr).toBe(1)
    const [line] = lines(r.stdout)
    expect(line).toMatchObject({ host: 'h1', status: 'failed' })
    expect(line!.reason).toMatch(
      new RegExp(`${BROKEN_VERSION} did not start and rejoin within 5 s.*rolled back to ${NEW_VERSION}`),
    )
    expect(line!.reason).toContain('broken build: this runtime cannot start')
    expect(await readlink(join(prefix('h1'), 'current'))).toBe(join(prefix('h1'), 'releases', b.sha256))
    // the failed release is gone; the previous one stays for a manual rollback
    expect((await readdir(join(prefix('h1'), 'releases'))).sort()).toEqual([a.sha256, b.sha256].sort())
    await waitFor(async () => (await versionOf('h1')) === NEW_VERSION, 'h1 back on the previous version', 20_000)
  }, 90_000)

  it('uninstalls through the overlay: reports, stops, removes files; keeps the data dir unless --purge', async () => {
    const pids = await Promise.all(hosts.map(supervisorPid))
    const keep = await cli(['uninstall', '--key', key, '--via', seedAddr, '--target', 'host=h2', '--json'])
    expect(keep.code, keep.stderr).toBe(0)
    expect(lines(keep.stdout)[0]).toMatchObject({
      host: 'h2',
      status: 'ok',
      stdout: expect.stringContaining('data kept'),
    })
    await waitFor(() => !alive(pids[1]!), 'the h2 supervisor to stop', 15_000)
    expect(await readdir(prefix('h2'))).toEqual(['data'])
    expect(await readdir(join(prefix('h2'), 'data'))).toContain('agent.key')

    const purge = await cli(['uninstall', '--key', key, '--via', seedAddr, '--target', 'host=h1', '--purge', '--json'])
    expect(purge.code, purge.stderr).toBe(0)
    expect(lines(purge.stdout)[0]).toMatchObject({ host: 'h1', status: 'ok' })
    await waitFor(() => !alive(pids[0]!), 'the h1 supervisor to stop', 15_000)
    expect(await readdir(join(dir, 'hosts'))).toEqual(['h2'])
    await waitFor(
      async () => (await nodes()).every(n => !hosts.includes(n.host ?? '')),
      'both gone from the overlay',
      20_000,
    )
    // no agent process of either install is left
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    expect(left).not.toContain(join(dir, 'hosts'))
  }, 60_000)
})
