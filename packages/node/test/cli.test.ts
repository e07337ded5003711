/**
 * The pnet CLI as a user drives it: real daemon processes on loopback TCP, commands through their control sockets.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@pnet/network/testing'
import { afterAll, describe, expect, it } from 'vitest'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const procs: ChildProcess[] = []
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL')
})

interface Result {
  code: number
  stdout: string
  stderr: string
}

function pnet(...args: string[]): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

interface Daemon {
  proc: ChildProcess
  addr: string
  control: string
  id: string
  stderr: () => string
}

async function daemon(dir: string, name: string, join?: string): Promise<Daemon> {
  const control = `${dir}/${name}.sock`
  const args = [
    CLI,
    'daemon',
    '--key',
    `${dir}/${name}/node.key`,
    '--listen',
    'tcp://127.0.0.1:0',
    '--control',
    control,
  ]
  args.push('--keepalive-ms', '300', '--link-timeout-ms', '1500')
  if (join !== undefined) args.push('--join', join)
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.push(proc)
  let out = ''
  let err = ''
  proc.stdout.on('data', d => {
    out += d
  })
  proc.stderr.on('data', d => {
    err += d
  })
  await waitFor(() => /listening (\S+)/.test(out), `${name} to print its address (stderr: ${err})`, 20_000)
  const addr = /listening (\S+)/.exec(out)![1]!
  return { proc, addr, control, id: addr.split('/p2p/')[1]!, stderr: () => err }
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await pnet(...args, '--json')
  if (r.code !== 0) throw new Error(`pnet ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface Route {
  peer: string
  nextHop: string
  hops: number
  metric: number
}

describe('pnet CLI', { timeout: 180_000 }, () => {
  it('pnet id creates a 0600 key once and prints the same peer ID every time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-cli-'))
    const first = await pnet('id', '--key', `${dir}/k/node.key`)
    expect(first.code).toBe(0)
    expect(first.stdout.trim()).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
    expect((await stat(`${dir}/k/node.key`)).mode & 0o777).toBe(0o600)
    expect((await pnet('id', '--key', `${dir}/k/node.key`)).stdout).toBe(first.stdout)
  })

  it('a line of four daemons: the ends route and ping through the middle; killing the middle withdraws routes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-line-'))
    const n0 = await daemon(dir, 'n0')
    const n1 = await daemon(dir, 'n1', n0.addr)
    const n2 = await daemon(dir, 'n2', n1.addr)
    const n3 = await daemon(dir, 'n3', n2.addr)

    // each end knows only its neighbour, yet routes to the far end appear
    let routes: Route[] = []
    await waitFor(
      async () => {
        routes = await json<Route[]>('routes', '--control', n0.control)
        return routes.some(r => r.peer === n3.id)
      },
      'n0 to route to n3',
      20_000,
    )
    expect(routes.find(r => r.peer === n3.id)).toEqual({ peer: n3.id, nextHop: n1.id, hops: 3, metric: 3 })
    expect(routes.find(r => r.peer === n1.id)).toMatchObject({ nextHop: n1.id, hops: 1 })

    const peers = await json<{ peer: string; transport: string; addr: string; rttMs: number | null }[]>(
      'peers',
      '--control',
      n1.control,
    )
    expect(peers.map(p => p.peer).sort()).toEqual([n0.id, n2.id].sort())
    expect(peers.every(p => p.transport === 'tcp' && p.addr.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)

    const ping = await pnet('ping', n3.id, '--count', '2', '--control', n0.control)
    expect(ping.code).toBe(0)
    expect(ping.stdout.match(/reply from .*: seq=\d time=[\d.]+ ms hops=3/g)).toHaveLength(2)

    const table = await pnet('routes', '--control', n0.control)
    expect(table.stdout).toMatch(/^PEER\s+NEXT HOP\s+HOPS\s+METRIC\s+AGE/)
    expect(table.stdout).toContain(n3.id)

    // the middle dies without a word: its neighbours see the sockets close, routes through it go
    n2.proc.kill('SIGKILL')
    await waitFor(
      async () => {
        routes = await json<Route[]>('routes', '--control', n0.control)
        return !routes.some(r => r.peer === n3.id || r.peer === n2.id)
      },
      'routes through n2 to be withdrawn',
      15_000,
    )
    expect(routes.map(r => r.peer)).toEqual([n1.id])
    const lost = await pnet('ping', n3.id, '--control', n0.control)
    expect(lost.code).toBe(1)
    expect(lost.stderr.trim().split('\n')).toHaveLength(1)
    expect(lost.stderr).toContain(n3.id)

    // a graceful stop exits 0
    n3.proc.kill('SIGTERM')
    const code = await new Promise(r => n3.proc.once('exit', r))
    expect(code).toBe(0)
    // the daemon logged JSON lines (pino) to stderr, the addresses alone went to stdout
    const line = n0
      .stderr()
      .split('\n')
      .find(l => l.includes('"msg"'))
    expect(JSON.parse(line!)).toMatchObject({ level: 30, msg: expect.any(String) })
  })

  it('connect and disconnect through the control socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-conn-'))
    const a = await daemon(dir, 'a')
    const b = await daemon(dir, 'b')
    const connected = await pnet('connect', b.addr, '--control', a.control)
    expect(connected.code).toBe(0)
    expect(connected.stdout.trim()).toBe(b.id)
    expect((await json<{ peer: string }[]>('peers', '--control', a.control)).map(p => p.peer)).toEqual([b.id])
    const info = await json<{ id: string; addrs: string[]; peers: number }>('info', '--control', a.control)
    expect(info).toMatchObject({ id: a.id, addrs: [a.addr], peers: 1 })
    expect((await pnet('disconnect', b.id, '--control', a.control)).code).toBe(0)
    await waitFor(async () => (await json<unknown[]>('peers', '--control', a.control)).length === 0, 'the link to go')
  })

  it('usage errors exit 2 naming the bad value; operational failures exit 1 with a one-line reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-usage-'))
    const cases: [string[], number, string][] = [
      [['frobnicate'], 2, 'unknown command "frobnicate"'],
      [['daemon', '--key', `${dir}/k`, '--listen', 'nonsense'], 2, '"nonsense"'],
      [['daemon', '--key', `${dir}/k`], 2, 'at least one --listen'],
      [['daemon', '--key', `${dir}/k`, '--listen', 'tcp://127.0.0.1:0', '--metric', 'speed'], 2, '"speed"'],
      [['ping', 'not-a-peer', '--control', `${dir}/x.sock`], 2, '"not-a-peer"'],
      [
        [
          'ping',
          '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
          '--count',
          'zero',
          '--control',
          `${dir}/x.sock`,
        ],
        2,
        '"zero"',
      ],
      [['routes', '--bogus'], 2, "'--bogus'"],
      [['routes', '--control', `${dir}/nobody.sock`], 1, 'no pnet daemon answers'],
    ]
    for (const [args, code, text] of cases) {
      const r = await pnet(...args)
      expect({ args, code: r.code }).toEqual({ args, code })
      expect(r.stderr).toContain(text)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
})
