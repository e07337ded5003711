/**
 * The systemd unit and install-service / uninstall-service.
 *
 * systemd is not PID 1 on CI machines and containers, so installing for real cannot be tested there. What is real:
 * the unit is checked by `systemd-analyze verify` (the systemd package works without a running systemd); install
 * and uninstall run against a unit directory in a temp dir and a `systemctl` script that records how it was called,
 * which checks the order of steps and the files, not systemd itself.
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, peerIdFromKey } from '@pnet/network'
import { beforeAll, describe, expect, it } from 'vitest'
import { installServiceCommand, uninstallServiceCommand } from '../src/cli/service.js'
import { execArg, installService, renderUnit, systemdRunning, unitName } from '../src/service/systemd.js'

const peer = peerIdFromKey(await generateKey()).toString()

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** systemd-analyze, installed from Debian's systemd package when missing and we are root with apt (tests only). */
function findAnalyze(): { bin?: string; why?: string } {
  const have = which('systemd-analyze')
  if (have !== undefined) return { bin: have }
  if (process.getuid?.() !== 0 || which('apt-get') === undefined) {
    return { why: 'systemd-analyze is not installed and installing the systemd package needs root and apt-get' }
  }
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'systemd'], {
      stdio: 'ignore',
      timeout: 180_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  } catch (err) {
    return { why: `apt-get install systemd failed: ${(err as Error).message}` }
  }
  const bin = which('systemd-analyze')
  return bin === undefined ? { why: 'the systemd package did not provide systemd-analyze' } : { bin }
}

function verify(bin: string, unitPath: string): Promise<{ code: number; problems: string[] }> {
  return new Promise(resolve => {
    execFile(bin, ['verify', unitPath], { timeout: 60_000 }, (err, stdout, stderr) => {
      // verify also reports on unrelated units it loads; keep what is about ours
      const name = unitPath.split('/').pop()!
      const problems = `${stdout}\n${stderr}`.split('\n').filter(l => l.includes(name))
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, problems })
    })
  })
}

async function configFile(mode = 0o600): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ops-svc-'))
  const file = join(dir, 'agent.toml')
  await writeFile(file, `data-dir = "/var/lib/ops-agent"\nlisten = "tcp://0.0.0.0:4001"\ntrust = ["${peer}"]\n`)
  await chmod(file, mode)
  return file
}

/** A unit directory and a systemctl that appends its arguments to a log. */
async function fakeSystem(opts: { failOn?: string } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ops-systemd-'))
  const unitDir = join(dir, 'units')
  await mkdir(unitDir)
  const log = join(dir, 'calls')
  const systemctl = join(dir, 'systemctl')
  const fail =
    opts.failOn === undefined
      ? ''
      : `case "$1" in ${opts.failOn}) echo "Failed to $1: Access denied" >&2; exit 1;; esac\n`
  await writeFile(systemctl, `#!/bin/sh\necho "$*" >> ${log}\n${fail}exit 0\n`, { mode: 0o755 })
  const calls = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean)
  return { unitDir, env: { unitDir, systemctl, running: () => true, isRoot: () => true }, calls }
}

const lines = () => {
  const out: string[] = []
  return { out, push: (l: string) => out.push(l) }
}

describe('systemd unit', () => {
  let analyze: { bin?: string; why?: string } = {}
  beforeAll(() => {
    analyze = findAnalyze()
    if (analyze.bin === undefined) console.warn(`systemd-analyze verify checks do not run here: ${analyze.why}`)
  }, 200_000)

  it('passes systemd-analyze verify, and a broken unit does not', async ctx => {
    // runs wherever systemd-analyze is or can be installed (CI runs as root with apt-get: it installs it)
    const bin = analyze.bin
    if (bin === undefined) return ctx.skip(`systemd-analyze verify cannot run here: ${analyze.why}`)
    const dir = await mkdtemp(join(tmpdir(), 'ops-unit-'))
    const cfg = await configFile()
    const o = lines()
    expect(await installServiceCommand(['--config', cfg, '--dry-run'], o.push)).toBe(0)
    const good = join(dir, 'ops-agent.service')
    await writeFile(good, `${o.out.join('\n')}\n`)
    expect(await verify(bin, good)).toEqual({ code: 0, problems: [] })

    // the check can fail: a misspelt setting and a relative binary are reported
    const bad = join(dir, 'ops-agent-bad.service')
    await writeFile(
      bad,
      `${o.out
        .join('\n')
        .replace('Restart=on-failure', 'Restartt=on-failure')
        .replace(/^ExecStart=\S+/m, 'ExecStart=node')}\n`,
    )
    const r = await verify(bin, bad)
    expect(r.problems.join('\n')).toMatch(/Restartt/)
  })

  it('sets restart, stop and OOM behaviour, and documents the sandboxing it leaves off', () => {
    const unit = renderUnit({ execStart: ['/usr/bin/node', '/opt/ops agent/main.js', 'agent', '--tag', 'pct=100%'] })
    expect(unit).toContain('ExecStart=/usr/bin/node "/opt/ops agent/main.js" agent --tag pct=100%%\n')
    for (const line of ['Restart=on-failure', 'RestartSec=5s', 'KillMode=mixed', 'OOMPolicy=continue', 'Type=exec']) {
      expect(unit).toMatch(new RegExp(`^${line}$`, 'm'))
    }
    expect(unit).toMatch(/^TimeoutStopSec=\d+s$/m)
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m)
    // these would break commands run as root: present only as comments
    for (const key of ['NoNewPrivileges', 'ProtectSystem', 'PrivateTmp', 'ProtectHome', 'MemoryDenyWriteExecute']) {
      expect(unit).toMatch(new RegExp(`^#.*${key}`, 'm'))
      expect(unit).not.toMatch(new RegExp(`^${key}=`, 'm'))
    }
    expect(() => renderUnit({ execStart: ['ops-agent', 'agent'] })).toThrow(/absolute path/)
  })

  it('quotes command-line words the way systemd reads them', () => {
    expect(execArg('/usr/bin/node')).toBe('/usr/bin/node')
    expect(execArg('a b')).toBe('"a b"')
    expect(execArg('say "hi"\\')).toBe('"say \\"hi\\"\\\\"')
    expect(execArg('$HOME')).toBe('$$HOME')
    expect(execArg('%h')).toBe('%%h')
    expect(execArg('')).toBe('""')
    expect(() => execArg('a\nb')).toThrow(/line break/)
    expect(unitName('ops-agent.service')).toBe('ops-agent')
    expect(unitName('ops-agent@blue')).toBe('ops-agent@blue')
    expect(() => unitName('../evil')).toThrow(/not valid/)
    expect(() => unitName('')).toThrow(/not valid/)
  })
})

describe('install-service', () => {
  it('prints the unit with --dry-run: the agent started from this CLI with the absolute config path', async () => {
    const cfg = await configFile()
    const o = lines()
    expect(await installServiceCommand(['--config', cfg, '--dry-run'], o.push)).toBe(0)
    const unit = o.out.join('\n')
    expect(unit).toMatch(
      new RegExp(`^ExecStart=${process.execPath}\\s\\S+/dist/cli/main\\.js agent --config ${cfg}$`, 'm'),
    )
  })

  it('passes agent flags after -- into the unit, data-dir made absolute, and checks them', async () => {
    const o = lines()
    const code = await installServiceCommand(
      [
        '--dry-run',
        '--bin',
        '/usr/local/bin/ops-agent',
        '--',
        '--data-dir',
        'state',
        '--listen',
        'tcp://0.0.0.0:4001',
        '--trust',
        peer,
        '--tag',
        'role=web',
      ],
      o.push,
    )
    expect(code).toBe(0)
    expect(o.out.join('\n')).toContain(
      `ExecStart=/usr/local/bin/ops-agent agent --data-dir ${join(process.cwd(), 'state')} --listen tcp://0.0.0.0:4001 --trust ${peer} --tag role=web`,
    )
    await expect(installServiceCommand(['--dry-run', '--', '--listen', 'tcp://0.0.0.0:1'], o.push)).rejects.toThrow(
      /no data-dir/,
    )
    await expect(installServiceCommand(['--dry-run', '--', '--listen', 'nope'], o.push)).rejects.toThrow(
      /--listen: invalid address "nope"/,
    )
    await expect(installServiceCommand(['--dry-run'], o.push)).rejects.toThrow(/needs --config FILE or the agent flags/)
    await expect(installServiceCommand(['--dry-run', '--unit-name', 'a/b', '--', '--x'], o.push)).rejects.toThrow(
      /Unknown option '--x'|not valid/,
    )
  })

  it('refuses a config it cannot use, naming the file and key', async () => {
    const cfg = await configFile()
    await writeFile(cfg, 'listen = "tcp://0.0.0.0:4001"\ntrsut = []\n')
    await expect(installServiceCommand(['--config', cfg, '--dry-run'], () => {})).rejects.toThrow(
      `${cfg}: trsut: unknown key (did you mean "trust"?)`,
    )
  })

  it('refuses a config others can write (they would decide whom the host obeys); --dry-run only warns', async () => {
    const cfg = await configFile(0o666)
    const sys = await fakeSystem()
    await expect(
      installServiceCommand(
        ['--config', cfg],
        () => {},
        () => {},
        sys.env,
      ),
    ).rejects.toThrow(/writable by group or others \(mode 666\).*chmod go-w/)
    expect(await sys.calls()).toEqual([])
    const warnings = lines()
    expect(await installServiceCommand(['--config', cfg, '--dry-run'], () => {}, warnings.push)).toBe(0)
    expect(warnings.out.join('\n')).toMatch(/^warning: .*writable by group or others/)
  })

  it('fails clearly where systemd is not running, and writes nothing', async () => {
    const cfg = await configFile()
    const sys = await fakeSystem()
    const errs = lines()
    const code = await installServiceCommand(['--config', cfg], () => {}, errs.push, {
      ...sys.env,
      running: () => false,
    })
    expect(code).toBe(1)
    expect(errs.out.join('\n')).toBe(
      'ops-agent: install-service needs systemd, and systemd is not running on this host (no /run/systemd/system); --dry-run prints the unit without installing it',
    )
    expect(existsSync(join(sys.unitDir, 'ops-agent.service'))).toBe(false)
    expect(await sys.calls()).toEqual([])
    // and the detection is the sd_booted one
    expect(systemdRunning(sys.unitDir)).toBe(true)
    expect(systemdRunning(join(sys.unitDir, 'nope'))).toBe(false)
  })

  it('needs root', async () => {
    const sys = await fakeSystem()
    await expect(
      installService('ops-agent', renderUnit({ execStart: ['/bin/true'] }), { ...sys.env, isRoot: () => false }),
    ).rejects.toThrow(/needs root/)
  })

  it('writes the unit, reloads, enables and starts; a changed unit restarts the service; uninstall undoes it', async () => {
    const cfg = await configFile()
    const sys = await fakeSystem()
    const o = lines()
    expect(await installServiceCommand(['--config', cfg, '--unit-name', 'edge-agent'], o.push, () => {}, sys.env)).toBe(
      0,
    )
    const unitPath = join(sys.unitDir, 'edge-agent.service')
    expect(o.out[0]).toMatch(new RegExp(`^installed ${unitPath}; edge-agent.service is enabled and running`))
    const written = await readFile(unitPath, 'utf8')
    expect(written).toContain(`--config ${cfg}`)
    expect(((await import('node:fs')).statSync(unitPath).mode & 0o777).toString(8)).toBe('644')
    expect(await sys.calls()).toEqual(['daemon-reload', 'enable --now edge-agent.service'])

    // the same again changes nothing
    expect(await installServiceCommand(['--config', cfg, '--unit-name', 'edge-agent'], o.push, () => {}, sys.env)).toBe(
      0,
    )
    expect(o.out[1]).toMatch(/^unchanged /)
    expect((await sys.calls()).slice(2)).toEqual(['enable --now edge-agent.service'])

    // other flags: the unit is rewritten and the running service restarted onto it
    await installServiceCommand(
      ['--config', cfg, '--unit-name', 'edge-agent', '--', '--log-level', 'debug'],
      o.push,
      () => {},
      sys.env,
    )
    expect(o.out[2]).toMatch(/^updated /)
    expect(await readFile(unitPath, 'utf8')).toContain('--log-level debug')
    expect((await sys.calls()).slice(3)).toEqual([
      'daemon-reload',
      'enable --now edge-agent.service',
      'restart edge-agent.service',
    ])

    expect(await uninstallServiceCommand(['--unit-name', 'edge-agent'], o.push, () => {}, sys.env)).toBe(0)
    expect(existsSync(unitPath)).toBe(false)
    expect((await sys.calls()).slice(6)).toEqual([
      'disable --now edge-agent.service',
      'daemon-reload',
      'reset-failed edge-agent.service',
    ])

    const errs = lines()
    expect(await uninstallServiceCommand(['--unit-name', 'edge-agent'], o.push, errs.push, sys.env)).toBe(1)
    expect(errs.out[0]).toBe(`ops-agent: no unit edge-agent.service at ${unitPath}: nothing to uninstall`)
  })

  it("reports systemctl's own error when a step fails", async () => {
    const cfg = await configFile()
    const sys = await fakeSystem({ failOn: 'enable' })
    const errs = lines()
    expect(await installServiceCommand(['--config', cfg], () => {}, errs.push, sys.env)).toBe(1)
    expect(errs.out[0]).toBe(
      'ops-agent: systemctl enable --now ops-agent.service failed: Failed to enable: Access denied',
    )
  })
})
