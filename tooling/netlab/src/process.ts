/**
 * A process running inside a lab host: output captured, lines awaited, signals, RSS from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface SpawnOptions {
  env?: Record<string, string>
  cwd?: string
  /** keep stdin open as a pipe (for processes driven by commands); default ignore */
  stdin?: boolean
  /** pin to these CPUs (`taskset -c`), e.g. an attacker on a core of its own, as if on another machine */
  cpus?: string
}

/** A lab process. `pid` is the real process: `ip netns exec` execs the command in place. */
export class LabProcess {
  readonly proc: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  #out = ''
  #err = ''
  readonly #waiters = new Set<() => void>()
  readonly #lineHandlers = new Set<(line: string) => void>()
  #partial = ''

  constructor(
    readonly host: number,
    readonly ns: string,
    readonly argv: readonly string[],
    opts: SpawnOptions = {},
  ) {
    const pin = opts.cpus === undefined ? [] : ['taskset', '-c', opts.cpus]
    this.proc = spawn('ip', ['netns', 'exec', ns, ...pin, ...argv], {
      stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    })
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      // output is kept until consumed; processes driven by commands answer in lines, handled as they come
      if (this.#lineHandlers.size > 0) {
        const lines = (this.#partial + d).split('\n')
        this.#partial = lines.pop()!
        for (const line of lines) for (const h of this.#lineHandlers) h(line)
      }
      this.#out = (this.#out + d).slice(-1024 * 1024)
      for (const w of this.#waiters) w()
    })
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      // keep the tail only: a long soak must not grow the test process without bound
      this.#err = (this.#err + d).slice(-256 * 1024)
    })
    this.exited = new Promise(resolve => {
      this.proc.once('exit', (code, signal) => {
        // waiters learn of the exit once its last output is in ('close'), or soon after if a grandchild keeps
        // the pipes open
        let told = false
        const tell = (): void => {
          if (told) return
          told = true
          for (const w of this.#waiters) w()
        }
        this.proc.once('close', tell)
        setTimeout(tell, 200).unref()
        resolve({ code, signal })
      })
    })
  }

  get pid(): number {
    return this.proc.pid ?? -1
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  stdout(): string {
    return this.#out
  }

  stderr(): string {
    return this.#err
  }

  /** Calls `handler` with every complete stdout line from now on. */
  onLine(handler: (line: string) => void): void {
    this.#lineHandlers.add(handler)
  }

  /** Writes one line to stdin (spawned with `stdin: true`). */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`)
  }

  /** Resolves with the first match of `re` in stdout; rejects if the process exits first or on timeout. */
  waitFor(re: RegExp, timeoutMs: number, what = re.source): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(this.#out)
        if (m !== null) {
          done()
          resolve(m)
        } else if (!this.running) {
          done()
          reject(new Error(`${this.describe()} exited before ${what}; stderr: ${this.#err.slice(-2000)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.describe()}: no ${what} within ${timeoutMs} ms; stderr: ${this.#err.slice(-2000)}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.proc.kill(signal)
  }

  /** Resident set size in bytes (from /proc), or undefined once it has exited. */
  rss(): number | undefined {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))
      return m === null ? undefined : Number(m[1]) * 1024
    } catch {
      return undefined
    }
  }

  describe(): string {
    return `host ${this.host} (${this.ns}) pid ${this.pid}: ${this.argv.slice(1, 3).join(' ')}`
  }
}
