/**
 * A real nginx for tests: installed from Debian when missing (as root), run on loopback only with its own config,
 * pid, logs and temp files in a temp dir, stopped by the caller (and, as a safety net, when the process exits).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const NGINX_PATHS = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']

/** The nginx binary, installing the Debian package if needed; or why nginx cannot be had here. */
export async function findOrInstallNginx(): Promise<{ bin: string } | { skip: string }> {
  if (process.env.PNET_SKIP_ROOT_TESTS !== undefined) return { skip: 'PNET_SKIP_ROOT_TESTS is set' }
  const found = NGINX_PATHS.find(p => existsSync(p))
  if (found !== undefined) return { bin: found }
  if (process.getuid?.() !== 0) {
    return { skip: 'nginx is not installed, and installing it (apt-get install nginx) needs root' }
  }
  if (!existsSync('/usr/bin/apt-get')) return { skip: 'nginx is not installed and there is no apt-get to install it' }
  // Debian starts a freshly installed service (on port 80, all interfaces) unless policy-rc.d forbids it
  const policy = '/usr/sbin/policy-rc.d'
  const ownPolicy = !existsSync(policy)
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 })
  const apt = (args: string[]) =>
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=180', ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 16 * 1024 * 1024,
    })
  try {
    try {
      await apt(['install', '-y', '--no-install-recommends', 'nginx'])
    } catch {
      await apt(['update'])
      await apt(['install', '-y', '--no-install-recommends', 'nginx'])
    }
  } catch (err) {
    return { skip: `apt-get install nginx failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}` }
  } finally {
    if (ownPolicy) unlinkSync(policy)
  }
  const installed = NGINX_PATHS.find(p => existsSync(p))
  return installed !== undefined
    ? { bin: installed }
    : { skip: 'apt-get installed nginx but no nginx binary was found' }
}

export interface RunningNginx {
  port: number
  dir: string
  accessLog(): string
  errorLog(): string
  stop(): Promise<void>
}

/** A free loopback TCP port (bound, then released for nginx). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise(r => server.close(r))
  return port
}

/**
 * Starts nginx proxying WebSocket upgrades of `location` to `upstream` (e.g. `http://127.0.0.1:4000/pnet`).
 *
 * @example
 * ```ts
 * const nginx = await startNginx(bin, '/mesh', 'http://127.0.0.1:4000/pnet')
 * try { … dial ws://127.0.0.1:${nginx.port}/mesh … } finally { await nginx.stop() }
 * ```
 */
export async function startNginx(bin: string, location: string, upstream: string): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'pnet-nginx-'))
  chmodSync(dir, 0o755) // workers drop to an unprivileged user when nginx starts as root
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location = ${location} {
      proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
    }
    location / { return 404; }
  }
}
`,
  )
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', d => {
    stderr += String(d)
  })
  const exited = once(child, 'exit')
  const safety = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', safety)
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8')
    } catch {
      return ''
    }
  }
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    process.removeListener('exit', safety)
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM') // fast shutdown: master and workers exit
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // ready when the port accepts connections; fail with nginx's own words if it exits first
  const deadline = Date.now() + 15_000
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const why = `${stderr}${read('error.log')}`.trim()
      await stop()
      throw new Error(`nginx exited at startup: ${why}`)
    }
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error('nginx did not start listening within 15 s')
    }
    await new Promise(r => setTimeout(r, 50))
  }
  return { port, dir, accessLog: () => read('access.log'), errorLog: () => read('error.log'), stop }
}
