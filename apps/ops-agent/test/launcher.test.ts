import { waitFor } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import { type LaunchEvents, Launcher, type LaunchRequest } from '../src/agent/launcher.js'

interface Outcome {
  pid?: number
  error?: { code: string | undefined; message: string }
  stdout: string
  stderr: string
  exit?: { code: number | null; signal: string | null }
  done?: { code: number | null; signal: string | null; truncated: { stdout: number; stderr: number } }
}

function launch(launcher: Launcher, args: string[], extra: Partial<LaunchRequest> = {}): Promise<Outcome> {
  return new Promise(resolve => {
    const o: Outcome = { stdout: '', stderr: '' }
    const events: LaunchEvents = {
      started: pid => (o.pid = pid),
      error: (code, message) => resolve({ ...o, error: { code, message } }),
      out: (s, d) => (o[s] += Buffer.from(d).toString()),
      exit: (code, signal) => (o.exit = { code, signal }),
      done: (code, signal, truncated) => resolve({ ...o, done: { code, signal, truncated } }),
    }
    launcher.launch(
      { file: args[0]!, args: args.slice(1), env: process.env, maxOutput: 1 << 20, drainMs: 2_000, ...extra },
      events,
    )
  })
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('command launcher', () => {
  it('starts commands from its own small process, in their own process group, with what they print', async () => {
    const launcher = new Launcher()
    try {
      const r = await launch(launcher, ['sh', '-c', 'echo $PPID; ps -o pgid= -p $$; echo oops >&2; exit 4'])
      const [ppid, pgid] = r.stdout.trim().split(/\s+/).map(Number)
      expect(ppid).toBe(launcher.pid)
      expect(ppid).not.toBe(process.pid)
      expect(pgid).toBe(r.pid) // the command leads its own group: the agent signals it with kill(-pid)
      expect(r.stderr).toBe('oops\n')
      expect(r.exit).toEqual({ code: 4, signal: null })
      expect(r.done).toMatchObject({ code: 4, signal: null })
    } finally {
      launcher.close()
    }
  })

  it('forwards at most maxOutput bytes per stream and counts the rest', async () => {
    const launcher = new Launcher()
    try {
      const r = await launch(launcher, ['sh', '-c', 'head -c 5000 /dev/zero; head -c 10 /dev/zero >&2'], {
        maxOutput: 1000,
      })
      expect(r.stdout.length).toBe(1000)
      expect(r.stderr.length).toBe(10)
      expect(r.done?.truncated).toEqual({ stdout: 4000, stderr: 0 })
    } finally {
      launcher.close()
    }
  })

  it('does not pass its IPC channel variables on to commands', async () => {
    const launcher = new Launcher()
    try {
      const r = await launch(launcher, ['sh', '-c', 'env | grep -c ^NODE_CHANNEL || true'], {
        env: { ...process.env, NODE_CHANNEL_FD: '3', PATH: process.env.PATH },
      })
      expect(r.stdout.trim()).toBe('0')
    } finally {
      launcher.close()
    }
  })

  it('a launcher that dies ends the commands it watched with an error, and the next command gets a new one', async () => {
    const launcher = new Launcher()
    try {
      const pending = launch(launcher, ['sleep', '30'])
      await waitFor(() => launcher.pid !== undefined && launcher.running === 1, 'the launcher to run the command')
      const first = launcher.pid!
      process.kill(first, 'SIGKILL')
      const r = await pending
      expect(r.error?.message).toMatch(/command launcher exited \(SIGKILL\)/)
      if (r.pid !== undefined) process.kill(-r.pid, 'SIGKILL') // the command itself outlives the launcher
      const next = await launch(launcher, ['echo', 'again'])
      expect(next.stdout).toBe('again\n')
      expect(launcher.pid).not.toBe(first)
    } finally {
      launcher.close()
    }
  })

  it('exits when idle, and starts again on the next command', async () => {
    const launcher = new Launcher({ idleMs: 100 })
    await launch(launcher, ['true'])
    const pid = launcher.pid!
    await waitFor(() => launcher.pid === undefined, 'the launcher to exit')
    await waitFor(() => !alive(pid), `pid ${pid} to be gone`)
    const r = await launch(launcher, ['echo', 'back'])
    expect(r.stdout).toBe('back\n')
    launcher.close()
  })

  it('with no launcher binary, commands start from this process instead', async () => {
    const launcher = new Launcher({ node: '/nonexistent/node' })
    const r = await launch(launcher, ['sh', '-c', 'echo $PPID'])
    expect(Number(r.stdout.trim())).toBe(process.pid)
    expect(r.done?.code).toBe(0)
    const missing = await launch(launcher, ['no-such-command-here'])
    expect(missing.error?.code).toBe('ENOENT')
  })
})
