/**
 * The controller CLI never misleads and never loses control: every way a run is stopped from outside (SIGINT,
 * SIGTERM, SIGHUP, a closed stdout) cancels the remote commands and exits with the shell's code for it; a target
 * that matches nothing says why; the command --async prints works as printed; job durations are real; the status
 * summary appears once. Real agents on loopback, the built CLI as a child process.
 */
import { execFileSync, spawn } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { waitFor } from '@pnet/network/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AgentProc,
  audit,
  CLI,
  CONFIG_HOME,
  controllerKey,
  killAll,
  opsAgent,
  opsAgentProc,
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

/** A Node stack frame, as an unhandled error prints them. */
const STACK = /^\s+at .+[(:]\d+/m

afterAll(() => killAll())

describe('ops-agent controller CLI on 3 agents', { timeout: 120_000 }, () => {
  let dir = ''
  let ctl = { key: '', peer: '' }
  let agents: AgentProc[] = []
  const base = (): string[] => ['--key', ctl.key, '--via', agents[0]!.addr]
  const startedEverywhere = (marker: string) => async () =>
    (await Promise.all(agents.map(audit))).every(lines =>
      lines.some(l => l.decision === 'accepted' && l.argv?.some(a => a.includes(marker))),
    )

  beforeAll(async () => {
    dir = await tempDir('ops-cli-')
    ctl = await controllerKey(dir)
    agents = await startTree(dir, 3, 2, [ctl.peer], i => ({ role: i === 0 ? 'web' : 'db' }))
  }, 60_000)

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal} cancels the job on every host, reports it and exits ${code}`, async () => {
      const marker = `31.${process.pid}${code}`
      const c = opsAgentProc(['exec', ...base(), '--target', '*', '--', 'sleep', marker])
      await waitFor(startedEverywhere(marker), 'every agent to start the command', 20_000)
      c.proc.kill(signal)
      expect(await c.done).toBe(code)
      expect(c.err()).toContain(`${signal}: cancelling on every host`)
      expect(c.out()).toMatch(/3 hosts: 0 ok, 3 cancelled/)
      // the remote commands do not outlive the controller
      await waitFor(() => !alive(marker), 'the remote sleeps to be killed', 5_000)
    })
  }

  it('a closed stdout (| head -1) cancels the job quietly and exits 141, without a stack trace', async () => {
    const marker = `ops-head-${process.pid}`
    const rc = join(dir, 'head.rc')
    const err = join(dir, 'head.err')
    // the remote command prints a line every 200 ms for 30 s: the controller notices the closed pipe on its next write
    const script = `i=0; while [ $i -lt 150 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done`
    const sh = spawn(
      'sh',
      [
        '-c',
        `{ "$0" "$1" exec --key "$2" --via "$3" --target '*' -- sh -c "$4" "$5" 2>"$6"; echo $? >"$7"; } | head -1`,
        process.execPath,
        CLI,
        ctl.key,
        agents[0]!.addr,
        script,
        marker,
        err,
        rc,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: CONFIG_HOME } },
    )
    let out = ''
    sh.stdout.on('data', d => {
      out += d
    })
    await new Promise(r => sh.once('exit', r))
    expect(out).toMatch(/^agent-\d: tick 0\n$/)
    expect((await readFile(rc, 'utf8')).trim()).toBe('141')
    const stderr = await readFile(err, 'utf8')
    expect(stderr).not.toMatch(STACK)
    expect(stderr).not.toMatch(/EPIPE|Error/)
    await waitFor(() => !alive(marker), 'the remote commands to be cancelled', 10_000)
  })

  it('a target that matches nothing says so, and what was probably meant (exit 1)', async () => {
    const typo = await opsAgent(['exec', ...base(), '--target', 'host=agnet-*', '--', 'true'])
    expect(typo.code).toBe(1)
    expect(typo.stderr).toContain('no host matches host=agnet-*; did you mean host=agent-*?')
    const tag = await opsAgent(['exec', ...base(), '--target', 'rol=web', '--json', '--', 'true'])
    expect(tag.code).toBe(1)
    expect(tag.stderr).toContain('no host matches rol=web; did you mean role=web?')
    const nothing = await opsAgent(['exec', ...base(), '--target', 'role=zzzzzz', '--', 'true'])
    expect(nothing.code).toBe(1)
    expect(nothing.stderr).toContain('no host matches role=zzzzzz')
    expect(nothing.stderr).not.toContain('did you mean')
  })

  it('--async prints a command that collects the results when run as printed', async () => {
    // a history path with a space and a quote: the printed command has to quote it
    const db = join(dir, "my jobs's", 'jobs.db')
    const r = await opsAgent(['exec', ...base(), '--target', 'role=db', '--db', db, '--async', '--', 'sleep', '1'])
    expect(r.code, r.stderr).toBe(0)
    const printed = /^collect the results with: (.+)$/m.exec(r.stdout)?.[1]
    expect(printed).toMatch(/^ops-agent job [0-9a-f]{32} --wait --key \S+ --via \S+ --db '.+'$/)
    // `ops-agent` on PATH, as an operator has it
    const bin = join(dir, 'bin')
    await mkdir(bin, { recursive: true })
    await writeFile(join(bin, 'ops-agent'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`)
    await chmod(join(bin, 'ops-agent'), 0o755)
    const collected = execFileSync('sh', ['-c', printed!], {
      encoding: 'utf8',
      cwd: '/',
      env: { ...process.env, XDG_CONFIG_HOME: CONFIG_HOME, PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin` },
    })
    expect(collected).toMatch(/2 hosts: 2 ok in (\d+\.\d+) s/)
    // and the job took as long as its hosts ran (about 1 s), not 0.00 s
    const took = Number(/in (\d+\.\d+) s/.exec(collected)![1])
    expect(took).toBeGreaterThanOrEqual(0.9)
    expect(took).toBeLessThan(15)
  })

  it('job ID and jobs show how long a job ran', async () => {
    const db = join(dir, 'durations.db')
    const r = await opsAgent(['exec', ...base(), '--target', '*', '--db', db, '--json', '--', 'sleep', '1'])
    expect(r.code, r.stderr).toBe(0)
    const id = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { job: string }).job
    const shown = await opsAgent(['job', id, '--db', db])
    const took = Number(/3 hosts: 3 ok in (\d+\.\d+) s/.exec(shown.stdout)?.[1])
    expect(took, shown.stdout).toBeGreaterThanOrEqual(0.9)
    expect(took).toBeLessThan(15)
    const list = await opsAgent(['jobs', '--db', db])
    const listed = Number(new RegExp(`^${id}\\s+\\S+\\s+(\\d+\\.\\d+) s`, 'm').exec(list.stdout)?.[1])
    expect(listed, list.stdout).toBeGreaterThanOrEqual(0.9)
    const json = JSON.parse((await opsAgent(['jobs', '--db', db, '--json'])).stdout) as { durationMs: number }[]
    expect(json[0]!.durationMs).toBeGreaterThanOrEqual(900)
    const end = (await opsAgent(['job', id, '--db', db, '--json'])).stdout.trim().split('\n').pop()!
    expect((JSON.parse(end) as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(900)
  })

  it('status prints its summary line once', async () => {
    const r = await opsAgent(['status', ...base(), '--target', '*'])
    expect(r.code, r.stderr).toBe(0)
    const summaries = r.stdout.split('\n').filter(l => /^\d+ hosts?:/.test(l))
    expect(summaries).toEqual([expect.stringMatching(/^3 hosts: 3 ok in [\d.]+ s$/)])
  })
})
