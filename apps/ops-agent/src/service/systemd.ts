/**
 * The agent as a systemd service: the unit file, and installing / removing it with systemctl.
 *
 * An agent's job is to run whatever a trusted controller asks, as root, exactly as an ssh session would. Every
 * sandboxing setting of a unit is inherited by the commands the agent starts, so the unit leaves those off on
 * purpose (each one is listed in the unit with what it would break) and hardens what does not reach the commands:
 * how the agent is started, restarted and stopped, and who can change what it obeys (the config file).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { DEFAULT_KILL_GRACE_MS } from '../limits.js'

/** Where units installed by an administrator live. */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system'

/** Something went wrong installing or removing the service; names the unit or file. */
export class ServiceError extends Error {
  readonly code: string
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ServiceError'
    this.code = code
  }
}

/**
 * Checks a unit name (`ops-agent`, `ops-agent@blue`; a `.service` suffix is dropped) and returns it without suffix.
 *
 * @example
 * ```ts
 * unitName('ops-agent.service')   // 'ops-agent'
 * ```
 */
export function unitName(name: string): string {
  const base = name.endsWith('.service') ? name.slice(0, -'.service'.length) : name
  if (!/^[A-Za-z0-9:_.@-]{1,200}$/.test(base) || base.startsWith('.') || base.startsWith('-')) {
    throw new ServiceError(
      `unit name "${name}" is not valid: use letters, digits and : _ . @ - (at most 200)`,
      'ERR_BAD_UNIT_NAME',
    )
  }
  return base
}

/**
 * Quotes one word of a unit's command line: `%` and `$` doubled (systemd would expand them), anything unusual in
 * double quotes with C escapes.
 *
 * @example
 * ```ts
 * execArg('/etc/ops agent/a.toml')   // '"/etc/ops agent/a.toml"'
 * execArg('100%')                    // '100%%'
 * ```
 */
export function execArg(word: string): string {
  if (/[\n\r\0]/.test(word))
    throw new ServiceError(`a command-line word holds a line break or NUL: ${JSON.stringify(word)}`, 'ERR_BAD_ARG')
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$')
  if (/^[A-Za-z0-9_@%$+=:,./-]+$/.test(escaped)) return escaped
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\t', '\\t')}"`
}

export interface UnitOptions {
  /** the agent's command line; the first word is an absolute path */
  execStart: string[]
  description?: string
}

/** Seconds systemd waits after SIGTERM: the agent's own kill grace for its commands, plus time to report them. */
const STOP_TIMEOUT_S = Math.ceil(DEFAULT_KILL_GRACE_MS / 1000) + 10

/**
 * The unit file, each setting with why.
 *
 * @example
 * ```ts
 * renderUnit({ execStart: ['/usr/bin/node', '/opt/ops-agent/dist/cli/main.js', 'agent', '--config', '/etc/ops-agent/agent.toml'] })
 * ```
 */
export function renderUnit(opts: UnitOptions): string {
  const [bin] = opts.execStart
  if (bin === undefined || !isAbsolute(bin)) {
    throw new ServiceError(`the service command must start with an absolute path, not "${bin ?? ''}"`, 'ERR_BAD_ARG')
  }
  return `# Written by \`ops-agent install-service\`. Remove with \`ops-agent uninstall-service\`.
[Unit]
Description=${(opts.description ?? 'ops-agent: runs fleet commands for trusted controllers over the pnet overlay').replace(/\s+/g, ' ')}
# the agent listens and joins other agents: start once the network is configured
Wants=network-online.target
After=network-online.target
# never give up restarting: an agent that stopped trying is a host nobody can reach to repair it
StartLimitIntervalSec=0

[Service]
# exec: systemctl start fails when the binary cannot be started at all, instead of reporting success
Type=exec
ExecStart=${opts.execStart.map(execArg).join(' ')}
Restart=on-failure
RestartSec=5s
# exit status 2 is a usage or configuration error: restarting cannot fix it, and the log says what it is
RestartPreventExitStatus=2
# SIGTERM goes to the agent alone, which stops its running commands itself (SIGTERM, grace, SIGKILL) and reports
# them; after that systemd SIGKILLs anything they left behind, so a restarted agent starts from a clean slate
# (its job store marks interrupted jobs lost; nothing keeps running unaccounted for)
KillMode=mixed
TimeoutStopSec=${STOP_TIMEOUT_S}s
# a command killed by the kernel's OOM killer must not stop the whole service (the default OOMPolicy=stop would)
OOMPolicy=continue
# every peer link and relayed stream is a socket
LimitNOFILE=65536
# files the commands create get the modes they would get in a login shell; the agent keeps its own data 0700/0600
UMask=0022
SyslogIdentifier=ops-agent
#
# Deliberately not set, because the commands the agent runs inherit them:
#   NoNewPrivileges=yes       breaks sudo, su, setuid helpers (ping, passwd), file capabilities
#   ProtectSystem=, ReadOnlyPaths=, ProtectHome=
#                             commands install packages, edit /etc, manage home directories
#   PrivateTmp=yes            files pushed to or left in /tmp would be invisible to the rest of the host
#   PrivateDevices=, DevicePolicy=
#                             commands partition, mount and inspect disks
#   ProtectKernelTunables=, ProtectKernelModules=, ProtectKernelLogs=, ProtectControlGroups=, ProtectClock=,
#   ProtectHostname=          sysctl, modprobe, dmesg, container runtimes, date/chrony, hostnamectl
#   RestrictSUIDSGID=yes      package installs create setuid files
#   CapabilityBoundingSet=, SystemCallFilter=, RestrictAddressFamilies=, RestrictNamespaces=, LockPersonality=
#                             arbitrary commands need arbitrary capabilities, syscalls, sockets and namespaces
#   MemoryDenyWriteExecute=yes
#                             breaks the agent itself (Node.js compiles JavaScript to machine code at run time)
#   PrivateMounts=yes         mounts made by commands would not be seen by the host
#   User=                     the agent runs commands as any user (--run-as), which needs root

[Install]
WantedBy=multi-user.target
`
}

/**
 * Whether systemd is this host's init, by the test sd_booted(3) uses.
 *
 * @example
 * ```ts
 * if (!systemdRunning()) console.error('no systemd here')
 * ```
 */
export function systemdRunning(runDir = '/run/systemd/system'): boolean {
  return existsSync(runDir)
}

/** How install and uninstall reach the system; every field has the real default, tests point them elsewhere. */
export interface SystemdEnv {
  /** default /etc/systemd/system */
  unitDir?: string
  /** the systemctl binary; default `systemctl` from PATH */
  systemctl?: string
  /** default: systemdRunning() */
  running?: () => boolean
  /** default: the process runs as root */
  isRoot?: () => boolean
}

function systemctl(env: SystemdEnv, args: string[]): Promise<void> {
  const bin = env.systemctl ?? 'systemctl'
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err === null) resolve()
      else {
        const why = stderr.trim() || err.message
        reject(new ServiceError(`systemctl ${args.join(' ')} failed: ${why}`, 'ERR_SYSTEMCTL', { cause: err }))
      }
    })
  })
}

function preflight(env: SystemdEnv, what: string): void {
  if (!(env.running ?? systemdRunning)()) {
    throw new ServiceError(
      `${what} needs systemd, and systemd is not running on this host (no /run/systemd/system)` +
        (what === 'install-service' ? '; --dry-run prints the unit without installing it' : ''),
      'ERR_NO_SYSTEMD',
    )
  }
  if (!(env.isRoot ?? (() => process.getuid?.() === 0))()) {
    throw new ServiceError(
      `${what} needs root (it writes to ${env.unitDir ?? SYSTEM_UNIT_DIR} and runs systemctl)`,
      'ERR_NOT_ROOT',
    )
  }
}

/** What an install did. */
export interface InstallResult {
  unitPath: string
  /** `installed` the first time, `updated` when the unit changed (the service was restarted), `unchanged` otherwise */
  action: 'installed' | 'updated' | 'unchanged'
}

/**
 * Writes the unit (atomically, 0644), reloads systemd, enables and starts the service; an existing unit with other
 * content is replaced and the service restarted.
 *
 * @example
 * ```ts
 * await installService('ops-agent', renderUnit({ execStart: [process.execPath, cli, 'agent', '--config', file] }))
 * ```
 */
export async function installService(name: string, unit: string, env: SystemdEnv = {}): Promise<InstallResult> {
  const base = unitName(name)
  preflight(env, 'install-service')
  const unitPath = join(env.unitDir ?? SYSTEM_UNIT_DIR, `${base}.service`)
  const before = await readFile(unitPath, 'utf8').catch(() => undefined)
  const service = `${base}.service`
  if (before !== unit) {
    const tmp = `${unitPath}.ops-agent-tmp`
    await writeFile(tmp, unit, { mode: 0o644 })
    await rename(tmp, unitPath)
    await systemctl(env, ['daemon-reload'])
  }
  await systemctl(env, ['enable', '--now', service])
  // enable --now leaves a running service on its old unit; an updated unit must take effect
  if (before !== undefined && before !== unit) await systemctl(env, ['restart', service])
  return { unitPath, action: before === undefined ? 'installed' : before === unit ? 'unchanged' : 'updated' }
}

/**
 * Stops and disables the service, removes its unit and reloads systemd. The agent's data dir (its key, job results,
 * audit log) is left alone.
 *
 * @example
 * ```ts
 * await uninstallService('ops-agent')
 * ```
 */
export async function uninstallService(name: string, env: SystemdEnv = {}): Promise<{ unitPath: string }> {
  const base = unitName(name)
  preflight(env, 'uninstall-service')
  const unitPath = join(env.unitDir ?? SYSTEM_UNIT_DIR, `${base}.service`)
  if (!existsSync(unitPath)) {
    throw new ServiceError(`no unit ${base}.service at ${unitPath}: nothing to uninstall`, 'ERR_NO_UNIT')
  }
  await systemctl(env, ['disable', '--now', `${base}.service`])
  await rm(unitPath, { force: true })
  await systemctl(env, ['daemon-reload'])
  // forget a failed state so `systemctl list-units` does not keep showing a unit that no longer exists
  await systemctl(env, ['reset-failed', `${base}.service`]).catch(() => undefined)
  return { unitPath }
}
