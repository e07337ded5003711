/**
 * The pieces of upgrade, uninstall and the deploy service choice that can be checked without an artifact: install
 * detection, manifest checks, the watchdog's commit and rollback on a real release layout, CLI usage errors, and the
 * systemd branch of deploy's install script run by sh against a stand-in systemctl (this machine has no systemd;
 * the real-process upgrade and uninstall tests are in tooling/artifact/test/upgrade.test.ts).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { JobStore } from '../src/agent/job-store.js'
import { type PendingUpgrade, pendingFile, upgradeDir } from '../src/agent/upgrade.js'
import { findInstall, verifyRelease } from '../src/agent/upgrade-release.js'
import { watchUpgrade } from '../src/agent/upgrade-watch.js'
import { main, UsageError } from '../src/cli/main.js'
import { hostService, installScript, systemdService } from '../src/deploy/remote.js'
import { newJobId, signJob } from '../src/protocol/job.js'
import { renderUnit } from '../src/service/systemd.js'
import { tempDir } from './fixture.js'

const SHA = (n: number): string => String(n).repeat(64).slice(0, 64)

/** PREFIX/releases/<sha>/{lib/ops-agent.mjs,manifest.json,bin/ops-agent} for each sha, current → the first. */
async function layout(shas: string[]): Promise<{ prefix: string; releases: string[] }> {
  const prefix = await tempDir('ops-install-')
  const releases: string[] = []
  for (const sha of shas) {
    const rel = join(prefix, 'releases', sha)
    await mkdir(join(rel, 'lib'), { recursive: true })
    await mkdir(join(rel, 'bin'), { recursive: true })
    const files = { 'lib/ops-agent.mjs': `// ${sha}\n`, 'bin/ops-agent': '#!/bin/sh\n' }
    for (const [p, t] of Object.entries(files)) await writeFile(join(rel, p), t, { mode: 0o755 })
    const sums = Object.fromEntries(
      Object.entries(files).map(([p, t]) => [p, createHash('sha256').update(t).digest('hex')]),
    )
    const platform = `${process.platform}-${process.arch}`
    await writeFile(
      join(rel, 'manifest.json'),
      JSON.stringify({ name: 'ops-agent', version: sha.slice(0, 1), platform, files: sums }),
    )
    releases.push(rel)
  }
  await symlink(releases[0]!, join(prefix, 'current'))
  return { prefix, releases }
}

const sink = { stdout: () => {}, stderr: () => {}, isTTY: false }

describe('upgrade: install detection and release checks', () => {
  it('finds a deploy install from the program path and says why anything else is not one', async () => {
    const { prefix, releases } = await layout([SHA(1), SHA(2)])
    expect(findInstall(join(releases[0]!, 'lib', 'ops-agent.mjs'))).toEqual({
      prefix,
      release: releases[0],
      releases: join(prefix, 'releases'),
      current: join(prefix, 'current'),
    })
    expect(findInstall(join(releases[1]!, 'lib', 'ops-agent.mjs'))).toMatch(
      /not installed by ops-agent deploy \(.*current points to .*, not to the running/,
    )
    expect(findInstall(new URL('../src/cli/main.ts', import.meta.url).pathname)).toMatch(
      /not installed by ops-agent deploy \(it runs from .*, not PREFIX\/releases\/<sha256>\/lib\)/,
    )
  })

  it('verifies a release against its manifest, naming the file that differs or is extra', async () => {
    const { releases } = await layout([SHA(3)])
    await expect(verifyRelease(releases[0]!)).resolves.toMatchObject({ name: 'ops-agent' })
    await writeFile(join(releases[0]!, 'lib', 'ops-agent.mjs'), 'tampered')
    await expect(verifyRelease(releases[0]!)).rejects.toThrow('lib/ops-agent.mjs does not match its manifest sha256')
    const { releases: r2 } = await layout([SHA(4)])
    await writeFile(join(r2[0]!, 'lib', 'extra.js'), '')
    await expect(verifyRelease(r2[0]!)).rejects.toThrow(
      'the artifact holds lib/extra.js, which its manifest does not list',
    )
  })
})

describe('upgrade watchdog', () => {
  async function pending(prefix: string, from: string, to: string, healthTimeoutMs: number): Promise<PendingUpgrade> {
    const dataDir = join(prefix, 'data')
    const store = new JobStore(dataDir)
    await store.init()
    const job = (await signJob(await (await import('@pnet/network')).generateKey(), { kind: 'upgrade', targets: [] }))
      .job
    await store.claim({ ...job, id: job.id })
    await store.handover(job.id)
    await mkdir(upgradeDir(dataDir), { recursive: true })
    const p: PendingUpgrade = {
      job: job.id,
      controller: job.controller,
      prefix,
      dataDir,
      from: { release: from, version: '1.0.0' },
      to: { release: to, version: '2.0.0' },
      healthTimeoutMs,
      handedOverAt: Date.now(),
    }
    await writeFile(pendingFile(dataDir), JSON.stringify(p))
    return p
  }

  it('commits when the new release confirms, keeping it and the previous release only', async () => {
    const { prefix, releases } = await layout([SHA(5), SHA(6), SHA(7)])
    const p = await pending(prefix, releases[0]!, releases[1]!, 10_000)
    await writeFile(
      join(upgradeDir(p.dataDir), 'healthy.json'),
      JSON.stringify({ job: p.job, release: releases[1], version: '2.0.0', pid: 1 }),
    )
    const outcome = await watchUpgrade(pendingFile(p.dataDir), 20)
    expect(outcome).toMatchObject({ status: 'ok', message: expect.stringMatching(/^upgraded 1\.0\.0 -> 2\.0\.0/) })
    expect((await readdir(join(prefix, 'releases'))).sort()).toEqual([SHA(5), SHA(6)])
    const rec = await new JobStore(p.dataDir).get(p.job)
    expect(rec).toMatchObject({ state: 'finished', result: { status: 'ok' } })
    expect(existsSync(pendingFile(p.dataDir))).toBe(false)
  })

  it('rolls back when no confirmation comes in time, and a restarted agent does not call the job lost', async () => {
    const { prefix, releases } = await layout([SHA(8), SHA(9)])
    const p = await pending(prefix, releases[0]!, releases[1]!, 300)
    // the old agent pointed current at the new release before it exited
    await (await import('node:fs/promises')).rm(join(prefix, 'current'))
    await symlink(releases[1]!, join(prefix, 'current'))
    await mkdir(join(prefix, 'log'))
    await writeFile(
      join(prefix, 'log', 'agent.log'),
      'Error: cannot find module x\nsupervisor: agent exited with status 1\n',
    )
    expect(await new JobStore(p.dataDir).init()).toEqual([]) // handed over: not lost
    const outcome = await watchUpgrade(pendingFile(p.dataDir), 20)
    expect(outcome.status).toBe('failed')
    expect(outcome.message).toBe(
      '2.0.0 did not start and rejoin within 0 s; rolled back to 1.0.0; last log line: Error: cannot find module x',
    )
    expect(await readlink(join(prefix, 'current'))).toBe(releases[0])
    expect(existsSync(releases[1]!)).toBe(false)
    const rec = await new JobStore(p.dataDir).get(p.job)
    expect(rec).toMatchObject({ state: 'finished', result: { status: 'failed', error: outcome.message } })
  })
})

describe('upgrade and uninstall CLI', () => {
  it('names bad flags as usage errors', async () => {
    const base = ['--key', '/tmp/none.key', '--via', 'tcp://127.0.0.1:1', '--target', '*']
    await expect(main(['upgrade', ...base], sink)).rejects.toThrow(/needs --artifact FILE/)
    await expect(main(['upgrade', ...base, '--artifact', 'x', '--health-timeout', '1s'], sink)).rejects.toThrow(
      /--health-timeout must be 2 s to 10 min/,
    )
    await expect(main(['uninstall', ...base, '--async'], sink)).rejects.toBeInstanceOf(UsageError)
    await expect(main(['upgrade-watch'], sink)).rejects.toThrow(/needs PENDING_FILE/)
    expect(newJobId()).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe('deploy: the systemd branch of the install script', () => {
  const unit = renderUnit({
    execStart: ['/opt/ops-agent/current/bin/ops-agent', 'agent', '--data-dir', '/opt/ops-agent/data'],
  })

  it('writes the unit, reloads, enables and starts it; a second run changes nothing', async () => {
    const dir = await tempDir('ops-sd-')
    const bin = join(dir, 'bin')
    await mkdir(bin)
    // systemctl stand-in: logs its arguments; is-active succeeds once something was restarted
    await writeFile(
      join(bin, 'systemctl'),
      `#!/bin/sh\necho "$*" >> ${dir}/calls\ncase $1 in is-active) [ -f ${dir}/active ];; restart) touch ${dir}/active;; esac\n`,
      { mode: 0o755 },
    )
    // the artifact's launcher stand-in: keygen prints a peer ID
    const rel = join(dir, 'prefix', 'releases', 'ab')
    await mkdir(join(rel, 'bin'), { recursive: true })
    await writeFile(join(rel, 'bin', 'ops-agent'), '#!/bin/sh\necho 12D3KooWtest\n', { mode: 0o755 })
    const script = installScript({
      prefix: join(dir, 'prefix'),
      sha256: 'ab',
      name: 'x',
      upload: join(dir, 'none'),
      args: ['--data-dir', '/opt/ops-agent/data'],
      service: systemdService('ops-agent', unit, dir),
    })
    const run = () =>
      spawnSync('sh', ['-s'], { input: script, encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin` } })
    const first = run()
    expect(first.status, first.stdout + first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^result changed=1 peer=12D3KooWtest service=systemd ops-agent$/m)
    expect(await readFile(join(dir, 'ops-agent.service'), 'utf8')).toBe(unit)
    expect(await readFile(join(dir, 'prefix', 'etc', 'service'), 'utf8')).toBe('systemd ops-agent\n')
    const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n')
    expect(calls).toEqual(
      expect.arrayContaining(['daemon-reload', 'enable --quiet ops-agent.service', 'restart ops-agent.service']),
    )
    const second = run()
    expect(second.stdout).toMatch(/^result changed=0 /m)
    const again = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n').slice(calls.length)
    expect(again).not.toContain('restart ops-agent.service')
    expect(again).not.toContain('daemon-reload')
  })

  it('the host script picks systemd only where /run/systemd/system exists (sd_booted), else the supervisor', () => {
    const text = installScript({
      prefix: '/opt/ops-agent',
      sha256: 'ab',
      name: 'x',
      upload: '/tmp/x',
      args: [],
      service: hostService('ops-agent', unit),
    })
    expect(text).toContain('if [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1; then SVC=sd')
    expect(text).toContain("cat > '/etc/systemd/system/ops-agent.service''.new'")
    // this machine: no systemd, so the selection lands on the detached supervisor
    const pick = spawnSync('sh', ['-c', `${text.split('\nmkdir -p')[0]}\necho "$SVC_DESC"`], { encoding: 'utf8' })
    expect(pick.stdout.trim()).toBe(existsSync('/run/systemd/system') ? 'systemd ops-agent' : 'detached')
  })
})
