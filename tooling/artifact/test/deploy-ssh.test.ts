/**
 * `ops-agent deploy` against a real OpenSSH server on loopback: three "hosts" are 127.0.0.2-4 (one sshd listening on
 * each), a fourth (127.0.0.5) has nothing listening and must come out `unreachable`. Each host gets its own prefix
 * (they share this machine's filesystem), the agents join a seed agent, and the controller then runs a command on
 * them through the overlay. Needs root (sshd) and installs openssh-server with apt-get when missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@pnet/network/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Artifact } from '../src/index.js'
import { artifact, killAll, REPO_CLI, runFile, start } from './helpers.js'

const SSHD = '/usr/sbin/sshd'

function sshdUnavailable(): string | undefined {
  if (existsSync(SSHD) && existsSync('/usr/bin/ssh')) return process.getuid?.() === 0 ? undefined : 'sshd needs root'
  if (process.getuid?.() !== 0) return 'openssh-server is not installed and installing it needs root'
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'openssh-server', 'openssh-client'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    })
  } catch (err) {
    return `apt-get install openssh-server failed: ${(err as Error).message}`
  }
  return existsSync(SSHD) ? undefined : 'openssh-server installed but /usr/sbin/sshd is missing'
}

const why = sshdUnavailable()
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
const DEAD = '127.0.0.5'

interface Outcome {
  target: string
  status: string
  changed?: boolean
  peer?: string
  reason?: string
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = connect({ host, port }, () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

describe.skipIf(why !== undefined)(`ops-agent deploy over ssh${why === undefined ? '' : ` (not run: ${why})`}`, () => {
  let dir: string
  let sshd: ChildProcess
  let port: number
  let a: Artifact
  let seedAddr: string
  let controller: string
  let key: string
  const prefix = (h: string): string => join(dir, 'hosts', h)

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ops-deploy-'))
    a = await artifact()
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')])
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')])
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'id.pub')), { mode: 0o600 })
    port = 20_000 + (process.pid % 20_000)
    await writeFile(
      join(dir, 'sshd_config'),
      [
        ...HOSTS.map(h => `ListenAddress ${h}:${port}`),
        `HostKey ${join(dir, 'host')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxStartups 50',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    )
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
    sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let sshdErr = ''
    sshd.stderr?.on('data', d => {
      sshdErr += d
    })
    await waitFor(
      async () => (await Promise.all(HOSTS.map(h => portOpen(h, port)))).every(Boolean),
      `sshd (${sshdErr})`,
    )

    key = join(dir, 'controller.key')
    controller = (
      await runFile(process.execPath, [REPO_CLI, 'keygen', '--key', key], { env: process.env })
    ).stdout.trim()
    const seed = start(
      process.execPath,
      [REPO_CLI, 'agent', '--data-dir', join(dir, 'seed'), '--listen', 'tcp://127.0.0.1:0', '--trust', controller],
      process.env,
    )
    await waitFor(() => /listening (\S+)/.test(seed.out()), `seed agent (${seed.err()})`, 20_000)
    seedAddr = /listening (\S+)/.exec(seed.out())![1]!
    await writeFile(
      join(dir, 'inventory'),
      `# one host from the inventory, with its own tag\nroot@${HOSTS[2]}:${port} hostname=h4\n`,
    )
  }, 240_000)

  afterAll(async () => {
    for (const p of [...HOSTS, DEAD].flatMap(h => [prefix(h), join(dir, 'first', h)])) {
      const pid = await readFile(join(p, 'run', 'supervisor.pid'), 'utf8').catch(() => '')
      if (pid !== '') {
        try {
          process.kill(Number(pid), 'SIGTERM')
        } catch {}
      }
    }
    sshd?.kill('SIGTERM')
    killAll()
    await new Promise(r => setTimeout(r, 500))
    await rm(dir, { recursive: true, force: true })
  })

  const deployArgs = (): string[] => [
    REPO_CLI,
    'deploy',
    '--ssh',
    `root@${HOSTS[0]}:${port}`,
    '--ssh',
    `root@${HOSTS[1]}:${port}`,
    '--ssh',
    `root@${DEAD}:${port}`,
    '--inventory',
    join(dir, 'inventory'),
    '--join',
    seedAddr,
    '--trust',
    controller,
    '--tag',
    'role=deployed',
    '--artifact',
    a.path,
    '--prefix',
    join(dir, 'hosts', '{host}'),
    '--listen',
    'tcp://{host}:0',
    '--identity',
    join(dir, 'id'),
    '--ssh-option',
    'StrictHostKeyChecking=no',
    '--ssh-option',
    'UserKnownHostsFile=/dev/null',
    '--ssh-option',
    'LogLevel=ERROR',
    '--json',
  ]

  const outcomes = (stdout: string): Map<string, Outcome> =>
    new Map(
      stdout
        .trim()
        .split('\n')
        .map(l => JSON.parse(l) as Outcome)
        .map(o => [o.target.replace(/^root@|:\d+$/g, ''), o]),
    )

  it('installs and starts the agent on every reachable host, reports the dead one unreachable', async () => {
    const r = await runFile(process.execPath, deployArgs(), { env: process.env, timeoutMs: 120_000 })
    expect(r.code, r.stderr).toBe(1) // one host is unreachable
    const o = outcomes(r.stdout)
    for (const h of HOSTS) expect(o.get(h), `${h}: ${o.get(h)?.reason}`).toMatchObject({ status: 'ok', changed: true })
    expect(o.get(DEAD)).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/refused|connect/i) })
    const peers = HOSTS.map(h => o.get(h)!.peer!)
    expect(new Set(peers).size).toBe(3)

    // the controller reaches them through the seed agent and runs a command on each
    const ex = await runFile(
      process.execPath,
      [
        REPO_CLI,
        'exec',
        '--key',
        key,
        '--via',
        seedAddr,
        '--target',
        'role=deployed',
        '--json',
        '--',
        'sh',
        '-c',
        'echo $PPID',
      ],
      { env: process.env },
    )
    expect(ex.code, ex.stderr).toBe(0)
    const lines = ex.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { peer?: string; status?: string; summary?: { ok: number } })
    expect(lines.pop()!.summary!.ok).toBe(3)
    expect(new Set(lines.map(l => l.peer))).toEqual(new Set(peers))
    // the inventory line's own tag reached its agent
    const args = await readFile(join(prefix(HOSTS[2]!), 'etc', 'agent.args'), 'utf8')
    expect(args.split('\n')).toEqual(expect.arrayContaining(['--tag', 'hostname=h4', 'role=deployed']))
  }, 150_000)

  it('changes nothing when run again: same release, same config, same running supervisor', async () => {
    const pids = await Promise.all(HOSTS.map(h => readFile(join(prefix(h), 'run', 'supervisor.pid'), 'utf8')))
    const r = await runFile(process.execPath, deployArgs(), { env: process.env, timeoutMs: 120_000 })
    const o = outcomes(r.stdout)
    for (const h of HOSTS) expect(o.get(h), `${h}: ${o.get(h)?.reason}`).toMatchObject({ status: 'ok', changed: false })
    expect(await Promise.all(HOSTS.map(h => readFile(join(prefix(h), 'run', 'supervisor.pid'), 'utf8')))).toEqual(pids)
    // no second copy of the artifact was left anywhere
    expect(readdirSync('/tmp').filter(f => f.startsWith(`ops-agent-${a.sha256.slice(0, 16)}`))).toEqual([])
  }, 150_000)

  it('deploys the first hosts of a new overlay: a --join naming the host itself is skipped, no --join at all is fine; deploy waits for each agent to answer and reports ok', async () => {
    // docs/ops-agent.md step 3: the bastion "joins itself"; here 127.0.0.2 is the bastion and 127.0.0.3 joins it
    // in the same run, on a fixed port (the address the guide gives them)
    const agentPort = port + 1
    const firstArgs = (targets: string[], joins: string[]): string[] => [
      REPO_CLI,
      'deploy',
      ...targets.flatMap(t => ['--ssh', `root@${t}:${port}`]),
      ...joins.flatMap(j => ['--join', j]),
      '--trust',
      controller,
      '--artifact',
      a.path,
      '--prefix',
      join(dir, 'first', '{host}'),
      '--listen',
      `tcp://{host}:${agentPort}`,
      '--identity',
      join(dir, 'id'),
      '--ssh-option',
      'StrictHostKeyChecking=no',
      '--ssh-option',
      'UserKnownHostsFile=/dev/null',
      '--ssh-option',
      'LogLevel=ERROR',
      '--json',
    ]
    const bastion = `tcp://${HOSTS[0]}:${agentPort}`
    const r = await runFile(process.execPath, firstArgs([HOSTS[0]!, HOSTS[1]!], [bastion]), {
      env: process.env,
      timeoutMs: 120_000,
    })
    const o = outcomes(r.stdout)
    for (const h of [HOSTS[0]!, HOSTS[1]!]) {
      expect(o.get(h), `${h}: ${o.get(h)?.reason} ${r.stderr}`).toMatchObject({ status: 'ok', changed: true })
    }
    expect(r.code, r.stderr).toBe(0)
    // the bastion was not told to join itself; the other host joins the bastion
    const args = async (h: string) =>
      (await readFile(join(dir, 'first', h, 'etc', 'agent.args'), 'utf8')).split('\n').filter(l => l !== '')
    expect(await args(HOSTS[0]!)).not.toContain('--join')
    expect(await args(HOSTS[1]!)).toEqual(expect.arrayContaining(['--join', bastion]))
    const ex = await runFile(
      process.execPath,
      [REPO_CLI, 'exec', '--key', key, '--via', bastion, '--target', '*', '--json', '--', 'true'],
      { env: process.env },
    )
    expect(ex.code, ex.stdout + ex.stderr).toBe(0)
    expect(JSON.parse(ex.stdout.trim().split('\n').pop()!).summary).toMatchObject({ targeted: 2, ok: 2 })

    // no --join at all: a standalone first agent, checked through its own address
    const alone = await runFile(process.execPath, firstArgs([HOSTS[2]!], []), { env: process.env, timeoutMs: 120_000 })
    expect(alone.code, alone.stdout + alone.stderr).toBe(0)
    expect(outcomes(alone.stdout).get(HOSTS[2]!)).toMatchObject({ status: 'ok', changed: true })
    expect(await args(HOSTS[2]!)).not.toContain('--join')
  }, 150_000)
})
