/**
 * Starting the lab's processes inside hosts, as an operator would: `pnet daemon`, `ops-agent agent`, `netlab-peer`
 * (a node with test channels, driven by JSON commands on stdin).
 */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Lab } from './lab.js'
import { LAB_KEEPALIVE, START_TIMEOUT_MS } from './limits.js'
import type { LabProcess } from './process.js'

function beside(pkg: string, rel: string): string {
  return join(dirname(fileURLToPath(import.meta.resolve(pkg))), rel)
}

/** Built CLIs the lab runs (the packages must be built: `pnpm exec turbo run build`). */
export const PNET_CLI = beside('@pnet/node', 'cli/main.js')
export const OPS_AGENT_CLI = beside('ops-agent', 'cli/main.js')
// from src/ (tests) and dist/ alike: the built program
export const PEER_CLI = fileURLToPath(new URL('../dist/peer.js', import.meta.url))
export const FLOOD_CLI = fileURLToPath(new URL('../dist/flood.js', import.meta.url))

export interface PeerOptions {
  /** where key files and data dirs go (a per-host subdirectory) */
  dir: string
  join?: string[]
  keepaliveMs?: number
  linkTimeoutMs?: number
  /** more CLI flags */
  args?: string[]
  /** listen port (default 4001) */
  port?: number
  /** pin to these CPUs (`taskset -c`) */
  cpus?: string
}

export interface CommandReply {
  id: number
  ok: boolean
  error?: string
  code?: string
  [field: string]: unknown
}

export interface Started {
  proc: LabProcess
  host: number
  /** peer ID */
  id: string
  /** bound multiaddrs with /p2p/ID */
  addrs: string[]
}

export interface PeerProc extends Started {
  /** Sends a command, resolves with its reply (a failed operation is `ok: false`, not a rejection). */
  command(cmd: Record<string, unknown>): Promise<CommandReply>
  /** Polls `check` every 100 ms until it is true; rejects after `timeoutMs`. */
  until(check: () => Promise<boolean> | boolean, timeoutMs?: number, what?: string): Promise<void>
}

function keepaliveArgs(o: PeerOptions): string[] {
  return [
    '--keepalive-ms',
    String(o.keepaliveMs ?? LAB_KEEPALIVE.intervalMs),
    '--link-timeout-ms',
    String(o.linkTimeoutMs ?? LAB_KEEPALIVE.timeoutMs),
  ]
}

async function started(proc: LabProcess, host: number): Promise<Started> {
  await proc.waitFor(/listening \S+\/p2p\/\S+\n/, START_TIMEOUT_MS, 'listening')
  const addrs = [...proc.stdout().matchAll(/listening (\S+)/g)].map(m => m[1]!)
  return { proc, host, id: addrs[0]!.split('/p2p/')[1]!, addrs }
}

/**
 * `pnet daemon` on host `h`, listening on every address of the host.
 *
 * @example
 * ```ts
 * const d = await startDaemon(lab, 1, { dir, join: [lab.tcp(0, 1)] })
 * ```
 */
export async function startDaemon(lab: Lab, h: number, o: PeerOptions): Promise<Started> {
  const dir = join(o.dir, `h${h}`)
  mkdirSync(dir, { recursive: true })
  const argv = [process.execPath, PNET_CLI, 'daemon', '--key', join(dir, 'node.key')]
  argv.push(...lab.listenArgs(h, o.port), '--control', join(dir, 'pnet.sock'), '--log-level', 'warn')
  for (const j of o.join ?? []) argv.push('--join', j)
  argv.push(...keepaliveArgs(o), ...(o.args ?? []))
  return started(lab.spawn(h, argv, { cpus: o.cpus }), h)
}

/**
 * `ops-agent agent` on host `h`, data dir `DIR/hN` (audit.log there), trusting `trust`.
 *
 * @example
 * ```ts
 * const a = await startAgent(lab, 0, { dir, trust: [controllerId], tags: { site: 'a' } })
 * ```
 */
export async function startAgent(
  lab: Lab,
  h: number,
  o: PeerOptions & { trust: string[]; tags?: Record<string, string> },
): Promise<Started & { dataDir: string }> {
  const dataDir = join(o.dir, `h${h}`)
  mkdirSync(dataDir, { recursive: true })
  const argv = [process.execPath, OPS_AGENT_CLI, 'agent', '--data-dir', dataDir, ...lab.listenArgs(h, o.port)]
  for (const j of o.join ?? []) argv.push('--join', j)
  for (const t of o.trust) argv.push('--trust', t)
  for (const [k, v] of Object.entries({ hostname: `h${h}`, ...o.tags })) argv.push('--tag', `${k}=${v}`)
  argv.push('--log-level', 'warn', ...keepaliveArgs(o), ...(o.args ?? []))
  return { ...(await started(lab.spawn(h, argv, { cpus: o.cpus }), h)), dataDir }
}

/**
 * `netlab-peer` on host `h`: a node serving the sink, echo and secure channels, driven by commands.
 *
 * @example
 * ```ts
 * const p = await startPeer(lab, 0, { dir })
 * const r = await p.command({ op: 'ping', peer: other.id })   // { ok: true, rttMs: 0.4, hops: 1 }
 * ```
 */
export async function startPeer(lab: Lab, h: number, o: PeerOptions): Promise<PeerProc> {
  const dir = join(o.dir, `h${h}`)
  mkdirSync(dir, { recursive: true })
  const argv = [process.execPath, PEER_CLI, '--key', join(dir, 'node.key'), ...lab.listenArgs(h, o.port)]
  for (const j of o.join ?? []) argv.push('--join', j)
  argv.push(...keepaliveArgs(o), ...(o.args ?? []))
  const proc = lab.spawn(h, argv, { stdin: true, cpus: o.cpus })
  const pending = new Map<number, (r: CommandReply) => void>()
  proc.onLine(line => {
    if (!line.startsWith('{')) return
    const r = JSON.parse(line) as CommandReply
    pending.get(r.id)?.(r)
    pending.delete(r.id)
  })
  void proc.exited.then(() => {
    for (const [id, resolve] of pending) resolve({ id, ok: false, error: 'peer process exited' })
    pending.clear()
  })
  const base = await started(proc, h)
  let next = 1
  const command = (cmd: Record<string, unknown>): Promise<CommandReply> => {
    const id = next++
    return new Promise(resolve => {
      if (!proc.running) {
        resolve({ id, ok: false, error: 'peer process exited' })
        return
      }
      pending.set(id, resolve)
      proc.send(JSON.stringify({ ...cmd, id }))
    })
  }
  const until = async (check: () => Promise<boolean> | boolean, timeoutMs = 60_000, what = 'condition') => {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`host ${h}: ${what} not met within ${timeoutMs} ms`)
      await new Promise(r => setTimeout(r, 100))
    }
  }
  return { ...base, command, until }
}
