/**
 * A farm of OpenSSH daemons on loopback for the pdsh and Ansible baselines: `count` hosts, each a distinct
 * 127.0.x.y address, all on one port. sshd binds at most 16 addresses per daemon (MAX_LISTEN_SOCKS), so the farm
 * runs ceil(count / 16) daemons sharing one config, host key and authorized_keys in a temp dir; nothing listens
 * beyond loopback and nothing outside the temp dir is touched (except /run/sshd, the privilege-separation dir sshd
 * insists on).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'

/** sshd's compile-time limit on listening sockets per daemon. */
const ADDRS_PER_DAEMON = 16

export interface SshFarm {
  /** the hosts' addresses, 127.0.x.y */
  addrs: string[]
  port: number
  user: string
  /** an ssh_config (port, user, key, known_hosts pinned to the farm's host key) for `ssh -F` */
  sshConfig: string
  dir: string
  stop(): Promise<void>
}

/** Host `i` of the farm: 127.0.0.2 … 127.0.0.251, 127.0.1.2 …, avoiding .0, .1 and the broadcast-looking .255. */
export function farmAddress(i: number): string {
  return `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`
}

async function portFree(addr: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, addr, () => s.close(() => resolve(true)))
  })
}

async function banner(addr: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>(resolve => {
      const sock = connect({ host: addr, port })
      sock.setTimeout(1000)
      sock.once('data', d => {
        sock.destroy()
        resolve(d.toString().startsWith('SSH-'))
      })
      sock.once('error', () => resolve(false))
      sock.once('timeout', () => {
        sock.destroy()
        resolve(false)
      })
    })
    if (ok) return true
    await new Promise(r => setTimeout(r, 100))
  }
  return false
}

/**
 * Starts the farm (OpenSSH's default algorithms; clients choose theirs with `-o`).
 *
 * @example
 * ```ts
 * const farm = await startSshFarm({ count: 100, dir: '/tmp/bench' })
 * // pdsh -R ssh -w 127.0.0.[2-101] with PDSH_SSH_ARGS="-F ${farm.sshConfig} -l%u %h"
 * await farm.stop()
 * ```
 */
export async function startSshFarm(opts: { count: number; dir: string; sshd?: string }): Promise<SshFarm> {
  const { count, dir } = opts
  const sshd = opts.sshd ?? '/usr/sbin/sshd'
  const user = userInfo().username
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const hostKey = join(dir, 'host_ed25519')
  const clientKey = join(dir, 'id_ed25519')
  for (const k of [hostKey, clientKey]) {
    if (!existsSync(k)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pnet-bench', '-f', k])
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 })
  if (user === 'root' && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })
  const addrs = Array.from({ length: count }, (_, i) => farmAddress(i))
  const home = join(dir, 'home')
  mkdirSync(home, { recursive: true, mode: 0o700 })

  let port = 0
  for (let attempt = 0; attempt < 20 && port === 0; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 40_000)
    const free = await Promise.all(addrs.map(a => portFree(a, candidate)))
    if (free.every(Boolean)) port = candidate
  }
  if (port === 0) throw new Error('no port free on every farm address after 20 tries')

  // production-like: key auth only; what a fleet's sshd would not do per login (PAM sessions, DNS, motd) is off,
  // which only makes the baselines faster; MaxStartups is raised because here one daemon serves 16 "hosts"
  const common = [
    `Port ${port}`,
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    user === 'root' ? 'PermitRootLogin prohibit-password' : '',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 1000',
    'MaxSessions 1000',
    'LogLevel ERROR',
    // a fleet host's shell starts clean; this machine's own ~/.bashrc (pyenv init and the like, ~0.2 s per login)
    // must not be billed to the baselines, so sessions get an empty HOME of their own
    `SetEnv HOME=${home}`,
  ].filter(l => l !== '')
  const daemons: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    const running = daemons.filter(c => c.exitCode === null && c.signalCode === null)
    const gone = running.map(c => new Promise(r => c.once('exit', r)))
    for (const c of running) c.kill('SIGTERM')
    await Promise.race([Promise.all(gone), new Promise(r => setTimeout(r, 5_000))])
    for (const c of running) c.kill('SIGKILL')
    daemons.length = 0
  }
  try {
    for (let d = 0; d * ADDRS_PER_DAEMON < count; d++) {
      const mine = addrs.slice(d * ADDRS_PER_DAEMON, (d + 1) * ADDRS_PER_DAEMON)
      const config = join(dir, `sshd_config.${d}`)
      const pidFile = join(dir, `sshd.${d}.pid`)
      writeFileSync(config, [...common, `PidFile ${pidFile}`, ...mine.map(a => `ListenAddress ${a}`), ''].join('\n'))
      // -D: stays in the foreground as our child, so it cannot outlive the benchmark unnoticed
      const child = spawn(sshd, ['-D', '-f', config, '-E', join(dir, `sshd.${d}.log`)], { stdio: 'ignore' })
      child.unref()
      daemons.push(child)
    }
    const up = await Promise.all(addrs.map(a => banner(a, port, 10_000)))
    const down = addrs.filter((_, i) => !up[i])
    if (down.length > 0) throw new Error(`sshd did not answer on ${down.length} addresses (e.g. ${down[0]}:${port})`)
  } catch (err) {
    await stop()
    throw err
  }
  const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
  writeFileSync(join(dir, 'known_hosts'), `[127.0.*.*]:${port} ${hostPub}\n`)
  const sshConfig = join(dir, 'ssh_config')
  writeFileSync(
    sshConfig,
    [
      'Host *',
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${clientKey}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  )
  return { addrs, port, user, sshConfig, dir, stop }
}
