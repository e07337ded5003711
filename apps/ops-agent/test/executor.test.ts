import { execFileSync } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCommand } from '../src/index.js'

const base = { timeoutMs: 10_000, killGraceMs: 500 }
async function run(argv: string[], extra: Partial<Parameters<typeof runCommand>[0]> = {}, cancel?: AbortSignal) {
  const out = { stdout: '', stderr: '' }
  const r = await runCommand({ ...base, argv, ...extra }, (s, d) => (out[s] += Buffer.from(d).toString()), cancel)
  return { ...r, ...out }
}
const alive = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim() !== ''
  } catch {
    return false
  }
}

describe('executor', () => {
  it('keeps stdout and stderr apart and reports the exit code', async () => {
    const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3'])
    expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3, signal: null, timedOut: false })
  })

  it('passes cwd, env and stdin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-exec-'))
    const r = await run(['sh', '-c', 'pwd; echo $GREETING; cat'], {
      cwd: dir,
      env: { GREETING: 'hi' },
      stdin: Buffer.from('piped'),
    })
    expect(r.stdout).toBe(`${dir}\nhi\npiped`)
  })

  it('a timeout kills the whole process group: SIGTERM, then SIGKILL after the grace', async () => {
    const marker = `31.${process.pid}${Date.now() % 1000}`
    const r = await run(['sh', '-c', `sleep ${marker} & trap '' TERM; sleep ${marker}`], {
      timeoutMs: 300,
      killGraceMs: 300,
    })
    expect(r.timedOut).toBe(true)
    expect(r.signal).toBe('SIGKILL') // the shell ignored SIGTERM
    expect(alive(marker)).toBe(false) // the backgrounded child died with it
  })

  it('cancel stops a running command', async () => {
    const c = new AbortController()
    setTimeout(() => c.abort(), 200)
    const r = await run(['sleep', '30'], {}, c.signal)
    expect(r).toMatchObject({ cancelled: true, signal: 'SIGTERM', exitCode: null })
    expect(r.durationMs).toBeLessThan(5_000)
  })

  it('names a command that does not exist', async () => {
    const r = await run(['no-such-command-here'])
    expect(r.exitCode).toBe(127)
    expect(r.error).toBe('command not found: no-such-command-here')
  })

  it('refuses run-as when the agent is not root, and names unknown users', async () => {
    const r = await run(['id', '-u'], { runAs: 'nobody' })
    if (process.getuid?.() === 0)
      expect(r.stdout.trim()).toBe(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim())
    else expect(r.error).toContain('not root')
    const u = await run(['id'], { runAs: 'no-such-user-xyz' })
    expect(u.error).toMatch(/unknown user "no-such-user-xyz"|not root/)
  })
})
