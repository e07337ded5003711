import { createHash } from 'node:crypto'
import { access, constants, mkdir, readFile, rm, stat, symlink, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Artifact, listTree, NODE_VERSION, readManifest, writeArchive } from '../src/index.js'
import { artifact, extracted, killAll, REPO_CLI, runFile, startAgent } from './helpers.js'

interface HostLine {
  host: string
  status: string
  exitCode: number | null
  stdout: string
}

function hostLines(stdout: string): HostLine[] {
  return stdout
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as HostLine & { summary?: unknown })
    .filter(l => l.summary === undefined)
}

describe('ops-agent artifact', () => {
  let a: Artifact
  let top: string

  beforeAll(async () => {
    a = await artifact()
    top = await extracted(a)
  }, 180_000)
  afterAll(async () => {
    killAll()
    await rm(dirname(top), { recursive: true, force: true })
  })

  it('holds the pinned Node, the bundled app, QUIC and a manifest that matches every file', async () => {
    const m = await readManifest(top)
    expect(m).toMatchObject({ name: 'ops-agent', platform: 'linux-x64', node: NODE_VERSION, quic: expect.any(String) })
    const files = (await listTree(top)).filter(p => p !== 'manifest.json')
    const onDisk: string[] = []
    for (const rel of files) {
      if (!(await stat(join(top, rel))).isFile()) continue
      onDisk.push(rel)
      expect(
        createHash('sha256')
          .update(await readFile(join(top, rel)))
          .digest('hex'),
        rel,
      ).toBe(m.files[rel])
    }
    expect(onDisk.sort()).toEqual(Object.keys(m.files).sort())
    for (const exe of ['bin/ops-agent', 'lib/node']) await access(join(top, exe), constants.X_OK)
    expect(a.sha256).toBe(
      createHash('sha256')
        .update(await readFile(a.path))
        .digest('hex'),
    )
    const v = await runFile(join(top, 'lib', 'node'), ['--version'])
    expect(v.stdout.trim()).toBe(`v${NODE_VERSION}`)
  })

  it('is reproducible: the same tree archived again, with fresh mtimes, gives the same sha256', async () => {
    const now = new Date()
    for (const rel of ['', ...(await listTree(top))]) await utimes(join(top, rel), now, now)
    const again = join(dirname(top), 'again.tar.gz')
    await writeArchive(dirname(top), a.name, again)
    expect(
      createHash('sha256')
        .update(await readFile(again))
        .digest('hex'),
    ).toBe(a.sha256)
    await rm(again)
  }, 120_000)

  it('runs where no Node exists: agent from the artifact, commands from its own and from the repo controller', async () => {
    const work = join(dirname(top), 'run')
    await mkdir(work)
    // PATH has no node and nothing else; env has nothing of ours
    const which = await runFile('/bin/sh', ['-c', 'command -v node || echo none'])
    expect(which.stdout.trim()).toBe('none')
    const bin = join(top, 'bin', 'ops-agent')
    const key = join(work, 'controller.key')
    const keygen = await runFile(bin, ['keygen', '--key', key])
    expect(keygen.code, keygen.stderr).toBe(0)
    const controller = keygen.stdout.trim()
    const agent = await startAgent(top, join(work, 'agent'), {
      listen: ['tcp://127.0.0.1:0', 'quic://127.0.0.1:0'],
      trust: controller,
      tags: { hostname: 'no-node-host', role: 'artifact' },
    })
    const tcpAddr = agent.addrs.find(x => x.includes('/tcp/'))!
    const quicAddr = agent.addrs.find(x => x.includes('/quic-v1/'))!
    expect(quicAddr).toBeDefined()

    // the artifact's own controller, over tcp; the command runs with the agent's (empty) PATH, hence /bin/sh
    const own = await runFile(bin, [
      'exec',
      '--key',
      key,
      '--via',
      tcpAddr,
      '--target',
      'role=artifact',
      '--json',
      '--',
      '/bin/sh',
      '-c',
      'echo "hello from $0 pid $$"',
    ])
    expect(own.code, own.stderr).toBe(0)
    const [line] = hostLines(own.stdout)
    expect(line).toMatchObject({ host: 'no-node-host', status: 'ok', exitCode: 0 })
    expect(line!.stdout).toMatch(/^hello from \/bin\/sh pid \d+\n$/)

    // the repo's controller (workspace build, the test's Node), over QUIC: the bundled QUIC speaks to the installed one
    const repo = await runFile(
      process.execPath,
      [REPO_CLI, 'exec', '--key', key, '--via', quicAddr, '--target', '*', '--json', '--', '/bin/echo', 'over', 'quic'],
      { env: { ...process.env } },
    )
    expect(repo.code, repo.stderr).toBe(0)
    expect(hostLines(repo.stdout)).toEqual([expect.objectContaining({ status: 'ok', stdout: 'over quic\n' })])
    agent.proc.kill('SIGTERM')
    expect(await agent.exited).toBe(0)
  })

  it('runs through a symlink to its launcher (how deploy puts it on a host) with nothing on PATH', async () => {
    const link = join(dirname(top), 'links', 'ops-agent')
    await mkdir(dirname(link))
    await symlink(join(top, 'bin', 'ops-agent'), link)
    const r = await runFile(link, ['--help'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('Usage: ops-agent [options] [command]')
  })

  it('without the QUIC package tcp still works and quic:// fails naming the address and the transports there are', async () => {
    const bare = await extracted(a)
    await rm(join(bare, 'lib', 'node_modules'), { recursive: true })
    const controller = (
      await runFile(join(bare, 'bin', 'ops-agent'), ['keygen', '--key', join(tmpdir(), `k${process.pid}`)])
    ).stdout.trim()
    const tcp = await startAgent(bare, join(dirname(bare), 'tcp'), { listen: ['tcp://127.0.0.1:0'], trust: controller })
    expect(tcp.addrs[0]).toMatch(/\/tcp\//)
    tcp.proc.kill('SIGTERM')
    const quic = await runFile(join(bare, 'bin', 'ops-agent'), [
      'agent',
      '--data-dir',
      join(dirname(bare), 'quic'),
      '--listen',
      'quic://127.0.0.1:0',
      '--trust',
      controller,
    ])
    // @pnet/node leaves quic out of its default transports when the module does not load, so the listen is refused
    expect(quic.code).toBe(1)
    expect(quic.stderr).toContain('no transport handles /ip4/127.0.0.1/udp/0/quic-v1 (configured: tcp, ws, memory)')
    await rm(dirname(bare), { recursive: true, force: true })
    await rm(join(tmpdir(), `k${process.pid}`), { force: true })
  })
})
