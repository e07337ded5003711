/**
 * The pnet command line itself, as a user meets it: help on every command, suggestions for typos, --version, a
 * mistyped --key, shell completion. Each case runs the built CLI as a child process.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { program } from '../src/cli/main.js'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version

/** Tests that start the CLI a few dozen times: generous, as other work may share the two cores. */
const SPAWNS_TIMEOUT_MS = 300_000

interface Result {
  code: number
  stdout: string
  stderr: string
}

function pnet(args: string[], opts: { cwd?: string } = {}): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/**
 * `fn` over `items`, one at a time: each CLI start loads the whole stack (~1 s of CPU), and test files run in
 * parallel — agents other files start must not starve while this one starts the CLI dozens of times.
 */
async function inTurn<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (const item of items) out.push(await fn(item))
  return out
}

/** Every command and subcommand of the tree, as the words that name it. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap(c => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])])
}

describe('pnet command line', { timeout: SPAWNS_TIMEOUT_MS }, () => {
  const paths = commandPaths(program(() => {}))

  it('every command answers --help and help CMD with its usage, options and an example (exit 0)', async () => {
    expect(paths.map(p => p.join(' '))).toEqual(expect.arrayContaining(['id', 'daemon', 'ping', 'completion']))
    const runs = paths.flatMap(path => [
      { path, args: [...path, '--help'] },
      { path, args: [...path.slice(0, -1), 'help', path.at(-1)!] },
    ])
    const results = await inTurn(runs, r => pnet(r.args))
    runs.forEach((r, i) => {
      const res = results[i]!
      expect({ args: r.args, code: res.code, stderr: res.stderr }).toEqual({ args: r.args, code: 0, stderr: '' })
      expect(res.stdout).toContain(`Usage: pnet ${r.path.join(' ')}`)
      expect(res.stdout).toContain('Options:')
      expect(res.stdout).toContain('Example')
    })
    const top = await pnet(['--help'])
    expect(top.code).toBe(0)
    for (const p of paths) expect(top.stdout).toContain(p[0])
  })

  it('an unknown option or command names the closest one; usage errors exit 2 on one line', async () => {
    const cases: [string[], string][] = [
      [['peers', '--kye', 'x'], "unknown option '--kye' (did you mean --key?)"],
      [['daemon', '--lisen', 'tcp://127.0.0.1:0'], "unknown option '--lisen' (did you mean --listen?)"],
      [['rotes'], 'unknown command "rotes" (did you mean routes?)'],
      [['pings'], 'unknown command "pings" (did you mean ping?)'],
      [['completion', 'zsh'], 'SHELL must be one of bash, got "zsh"'],
      [['ping'], "missing required argument 'peer-id'"],
    ]
    for (const [args, text] of cases) {
      const r = await pnet(args)
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 2, stderr: `pnet: ${text}\n` })
    }
  })

  it('--version prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await pnet([flag])
      expect(r).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    }
  })

  it('a --key that names no file is a usage error for the inspection commands, and creates nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pnet-nokey-'))
    const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    const commands = [['peers'], ['routes'], ['info'], ['metrics'], ['ping', peer], ['connect', 'tcp://127.0.0.1:1']]
    for (const c of [...commands, ['disconnect', peer]]) {
      const r = await pnet([...c, '--key', 'node.kye'], { cwd: dir })
      expect({ c, code: r.code, stderr: r.stderr }).toEqual({
        c,
        code: 2,
        stderr: 'pnet: no key file at node.kye (pnet daemon --key node.kye creates it)\n',
      })
    }
    expect(await readdir(dir)).toEqual([])
    // id creates the key by design: it is how a node's identity is made
    const id = await pnet(['id', '--key', 'node.key'], { cwd: dir })
    expect(id.code).toBe(0)
    expect(await readdir(dir)).toEqual(['node.key'])
  })

  it('completion bash is generated from the command tree and completes commands, options and choices', async () => {
    const r = await pnet(['completion', 'bash'])
    expect(r.code).toBe(0)
    for (const p of paths) expect(r.stdout).toContain(p.at(-1))
    const complete = (words: string[]): Promise<Result> =>
      new Promise(resolve => {
        const line = `COMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pnet_complete; echo "\${COMPREPLY[*]}"`
        execFile('bash', ['-c', `${r.stdout}\n${line}`], (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : 1, stdout: stdout.trim(), stderr }),
        )
      })
    expect((await complete(['pnet', 'ro'])).stdout).toBe('routes')
    expect((await complete(['pnet', 'daemon', '--li'])).stdout).toBe('--listen --link-timeout-ms')
    expect((await complete(['pnet', 'daemon', '--metric', ''])).stdout).toBe('hops rtt')
    expect((await complete(['pnet', 'help', 'dis'])).stdout).toBe('disconnect')
    expect((await complete(['pnet', 'completion', ''])).stdout).toBe('bash')
  })
})
