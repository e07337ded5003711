/**
 * The ops-agent command line itself, as an operator meets it: help on every command, suggestions for typos,
 * --version, `--` passed through, a mistyped --key that creates nothing, defaults from the environment and the config
 * file (`ops-agent config`), shell completion. Each case runs the built CLI as a child process.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { program } from '../src/cli/main.js'
import { openHistory } from '../src/controller/history.js'
import { CLI } from './fixture.js'

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version
const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
/** a port nothing listens on: commands under test fail before they would dial it */
const VIA = 'tcp://127.0.0.1:1'

/** Tests that start the CLI a few dozen times: generous, as other work may share the two cores. */
const SPAWNS_TIMEOUT_MS = 300_000

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** A fresh config home, and no OPS_AGENT_* from the environment the tests run in. */
async function home(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), 'ops-cli-home-'))
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: dir }
  delete env.OPS_AGENT_KEY
  delete env.OPS_AGENT_VIA
  return { dir, env }
}

const base = await home()

function opsAgent(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 120_000, cwd: opts.cwd, env: opts.env ?? base.env },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
      },
    )
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

/** Every command and subcommand of the tree (hidden ones too), as the words that name it. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap(c => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])])
}

describe('ops-agent command line', { timeout: SPAWNS_TIMEOUT_MS }, () => {
  const tree = program()
  const paths = commandPaths(tree)
  /** what the overview lists (hidden commands, such as upgrade-watch, are for agents, not people) */
  const visible = tree
    .createHelp()
    .visibleCommands(tree)
    .map(c => c.name())

  it('every command answers --help and help CMD with its usage, options and an example (exit 0)', async () => {
    expect(paths.map(p => p.join(' '))).toEqual(
      expect.arrayContaining(['keygen', 'agent', 'exec', 'script', 'push', 'status', 'nodes', 'job', 'jobs']),
    )
    expect(paths.map(p => p.join(' '))).toEqual(
      expect.arrayContaining(['deploy', 'install-service', 'upgrade', 'uninstall', 'config', 'completion']),
    )
    const runs = paths.flatMap(path => [
      { path, args: [...path, '--help'] },
      { path, args: [...path.slice(0, -1), 'help', path.at(-1)!] },
    ])
    const results = await inTurn(runs, r => opsAgent(r.args))
    runs.forEach((r, i) => {
      const res = results[i]!
      expect({ args: r.args, code: res.code, stderr: res.stderr }).toEqual({ args: r.args, code: 0, stderr: '' })
      expect(res.stdout).toContain(`Usage: ops-agent ${r.path.join(' ')}`)
      expect(res.stdout).toContain('Options:')
      expect(res.stdout).toContain('Example')
    })
    const top = await opsAgent(['--help'])
    expect(top.code).toBe(0)
    for (const name of visible) expect(top.stdout).toContain(`  ${name} `)
  })

  it('an unknown option or command names the closest one; usage errors exit 2 on one line', async () => {
    const cases: [string[], string][] = [
      [['exce'], 'unknown command "exce" (did you mean exec?)'],
      [['stauts'], 'unknown command "stauts" (did you mean status?)'],
      [['exec', '--kye', 'ctl.key'], "unknown option '--kye' (did you mean --key?)"],
      [['nodes', '--json', '--vai', VIA], "unknown option '--vai' (did you mean --via?)"],
      [['deploy', '--inventroy', 'x'], "unknown option '--inventroy' (did you mean --inventory?)"],
      [['exec', '--frobnicate'], "unknown option '--frobnicate' (try ops-agent exec --help)"],
      [
        ['agent', '--log-level', 'loud'],
        '--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      ],
      [['completion', 'fish'], 'SHELL must be one of bash, got "fish"'],
      [['status', 'extra'], "too many arguments for 'status'. Expected 0 arguments but got 1: extra."],
    ]
    const results = await inTurn(cases, ([args]) => opsAgent(args))
    cases.forEach(([args, text], i) => {
      const r = results[i]!
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 2, stderr: `ops-agent: ${text}\n` })
    })
    // no command at all: the overview, as a usage error
    const bare = await opsAgent([])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain('Usage: ops-agent')
  })

  it('--version prints the package version', async () => {
    for (const flag of ['--version', '-V'])
      expect(await opsAgent([flag])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('after --, every word is the remote command, options and --help included', async () => {
    const { dir, env } = await home()
    // the words after -- are not ours: no help, no unknown option; the run gets as far as the (missing) key
    const r = await opsAgent(['exec', '--key', 'k', '--via', VIA, '--target', '*', '--', 'grep', '--help', '-x'], {
      cwd: dir,
      env,
    })
    expect(r).toEqual({
      code: 2,
      stdout: '',
      stderr: 'ops-agent: no key file at k (create one with: ops-agent keygen --key k)\n',
    })
  })

  it('a typo in --key creates nothing: every controller command exits 2 naming the missing file', async () => {
    const { dir: config, env } = await home()
    const cwd = await mkdtemp(join(tmpdir(), 'ops-cli-cwd-'))
    const files = await mkdtemp(join(tmpdir(), 'ops-cli-files-'))
    await writeFile(join(files, 's.sh'), 'echo hi\n')
    const db = join(files, 'jobs.db')
    const h = await openHistory(db)
    h.recordJob({
      id: 'pending1',
      kind: 'exec',
      argv: ['true'],
      selectors: ['*'],
      via: VIA,
      targets: [{ peer: PEER, host: 'h' }],
    })
    h.close()
    const run = ['--via', VIA, '--target', '*']
    const commands: string[][] = [
      ['exec', ...run, '--', 'true'],
      ['script', join(files, 's.sh'), ...run],
      ['push', join(files, 's.sh'), '/tmp/s.sh', ...run],
      ['status', ...run],
      ['nodes', '--via', VIA],
      ['job', 'pending1', '--db', db],
      ['upgrade', ...run, '--artifact', join(files, 's.sh')],
      ['uninstall', ...run],
      ['deploy', '--ssh', 'root@h', '--join', VIA, '--trust', PEER, '--artifact', join(files, 's.sh')],
    ]
    const results = await inTurn(commands, c => opsAgent([c[0]!, '--key', 'ctl.kye', ...c.slice(1)], { cwd, env }))
    commands.forEach((c, i) => {
      const r = results[i]!
      expect({ c, code: r.code, stderr: r.stderr }).toEqual({
        c,
        code: 2,
        stderr: 'ops-agent: no key file at ctl.kye (create one with: ops-agent keygen --key ctl.kye)\n',
      })
    })
    expect(await readdir(cwd)).toEqual([])
    expect(await readdir(config)).toEqual([])
    // without --key: the environment's key, then the default one, each named with how to make it
    const fromEnv = await opsAgent(['nodes', '--via', VIA], { cwd, env: { ...env, OPS_AGENT_KEY: 'env.kye' } })
    expect(fromEnv.stderr).toBe(
      'ops-agent: no key file at env.kye (from $OPS_AGENT_KEY; create one with: ops-agent keygen)\n',
    )
    const dflt = await opsAgent(['status', ...run], { cwd, env })
    const keyPath = join(config, 'ops-agent', 'controller.key')
    expect(dflt).toMatchObject({
      code: 2,
      stderr: `ops-agent: no key file at ${keyPath} (create one with: ops-agent keygen)\n`,
    })
    expect(await readdir(cwd)).toEqual([])
    expect(await readdir(config)).toEqual([])
    // keygen is the one that creates, at the default path when not told otherwise
    const made = await opsAgent(['keygen'], { cwd, env })
    expect(made.code).toBe(0)
    expect(((await stat(keyPath)).mode & 0o777).toString(8)).toBe('600')
    expect(await opsAgent(['keygen'], { cwd, env })).toEqual(made)
  })

  it('key and via come from a flag, else the environment, else the config file, else the default; config shows which', async () => {
    const { dir, env } = await home()
    const configFile = join(dir, 'ops-agent', 'config.json')
    const show = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const r = await opsAgent(['config', '--json', ...args], { env: { ...env, ...extra } })
      expect(r.code, r.stderr).toBe(0)
      return JSON.parse(r.stdout) as Record<string, { value?: string; source: string; from?: string; exists?: boolean }>
    }
    expect(await show([])).toEqual({
      key: { value: join(dir, 'ops-agent', 'controller.key'), source: 'default' },
      via: { source: 'default' },
      db: { value: join(dir, 'ops-agent', 'jobs.db'), source: 'default' },
      config: { value: configFile, source: 'default', exists: false },
    })
    await mkdir(join(dir, 'ops-agent'))
    await writeFile(configFile, JSON.stringify({ key: 'file.key', via: 'tcp://10.0.0.1:4001', db: '/var/ops/jobs.db' }))
    const fromFile = await show([])
    expect(fromFile.key).toEqual({ value: join(dir, 'ops-agent', 'file.key'), source: 'file', from: configFile })
    expect(fromFile.via).toEqual({ value: 'tcp://10.0.0.1:4001', source: 'file', from: configFile })
    expect(fromFile.db).toEqual({ value: '/var/ops/jobs.db', source: 'file', from: configFile })
    expect(fromFile.config!.exists).toBe(true)
    const fromEnv = await show([], { OPS_AGENT_KEY: '/etc/ops/env.key', OPS_AGENT_VIA: 'tcp://10.0.0.2:4001' })
    expect(fromEnv.key).toEqual({ value: '/etc/ops/env.key', source: 'env', from: 'OPS_AGENT_KEY' })
    expect(fromEnv.via).toEqual({ value: 'tcp://10.0.0.2:4001', source: 'env', from: 'OPS_AGENT_VIA' })
    const fromFlags = await show(['--key', 'flag.key', '--via', 'tcp://10.0.0.3:4001', '--db', 'x.db'], {
      OPS_AGENT_KEY: '/etc/ops/env.key',
      OPS_AGENT_VIA: 'tcp://10.0.0.2:4001',
    })
    expect(fromFlags.key).toEqual({ value: 'flag.key', source: 'flag' })
    expect(fromFlags.via).toEqual({ value: 'tcp://10.0.0.3:4001', source: 'flag' })
    expect(fromFlags.db).toEqual({ value: 'x.db', source: 'flag' })
    // the table a person reads names each source
    const table = await opsAgent(['config'], { env: { ...env, OPS_AGENT_VIA: 'tcp://10.0.0.2:4001' } })
    expect(table.stdout).toMatch(/^key\s+\S+file\.key\s+file \S+config\.json$/m)
    expect(table.stdout).toMatch(/^via\s+tcp:\/\/10\.0\.0\.2:4001\s+env OPS_AGENT_VIA$/m)

    // the commands use what config shows: a bad address from each source is reported as that address
    await writeFile(configFile, JSON.stringify({ via: 'file-addr' }))
    const viaFile = await opsAgent(['nodes'], { env })
    expect(viaFile).toMatchObject({ code: 2, stderr: expect.stringContaining('invalid address "file-addr"') })
    const viaEnv = await opsAgent(['nodes'], { env: { ...env, OPS_AGENT_VIA: 'env-addr' } })
    expect(viaEnv).toMatchObject({ code: 2, stderr: expect.stringContaining('invalid address "env-addr"') })
    const viaFlag = await opsAgent(['nodes', '--via', 'flag-addr'], { env: { ...env, OPS_AGENT_VIA: 'env-addr' } })
    expect(viaFlag).toMatchObject({ code: 2, stderr: expect.stringContaining('invalid address "flag-addr"') })

    // a misspelt field in the file is named, not ignored
    await writeFile(configFile, JSON.stringify({ vai: VIA }))
    const typo = await opsAgent(['config'], { env })
    expect(typo).toMatchObject({
      code: 2,
      stderr: `ops-agent: ${configFile}: unknown field "vai" (known: key, via, db)\n`,
    })
    await writeFile(configFile, '{')
    expect((await opsAgent(['nodes'], { env })).code).toBe(2)
  })

  it('completion bash is generated from the command tree and completes commands, options and choices', async () => {
    const r = await opsAgent(['completion', 'bash'])
    expect(r.code).toBe(0)
    for (const name of visible) expect(r.stdout).toContain(`"/${name}"`)
    const complete = (words: string[]): Promise<string> =>
      new Promise(resolve => {
        const line = `COMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ops_agent_complete; echo "\${COMPREPLY[*]}"`
        execFile('bash', ['-c', `${r.stdout}\n${line}`], (_err, stdout) => resolve(stdout.trim()))
      })
    expect(await complete(['ops-agent', 'ex'])).toBe('exec')
    expect(await complete(['ops-agent', 'un'])).toBe('uninstall-service uninstall')
    expect(await complete(['ops-agent', 'exec', '--ta'])).toBe('--target')
    expect(await complete(['ops-agent', 'agent', '--log-level', 'de'])).toBe('debug')
    expect(await complete(['ops-agent', 'help', 'dep'])).toBe('deploy')
    expect(await complete(['ops-agent', 'completion', ''])).toBe('bash')
  })
})
