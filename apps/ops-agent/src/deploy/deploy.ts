/**
 * `ops-agent deploy`: put the artifact on hosts over SSH, configure and start the agent, then check from the overlay
 * that each one joined. Every host ends as `ok`, `failed` (with the reason) or `unreachable`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createGunzip } from 'node:zlib'
import type { PrivateKey } from '@libp2p/interface'
import { generateKey } from '@pnet/network'
import { type Fleet, joinFleet } from '../controller/fleet.js'
import { renderUnit } from '../service/systemd.js'
import { forHost, joinsFor, ownAddress, type SshTarget } from './hosts.js'
import { hostService, installScript, probeScript, type ServiceManager } from './remote.js'
import { SSH_CONNECT_FAILED, type SshOptions, scpTo, sshScript } from './ssh.js'

/** Hosts deployed to at once (ssh sessions and artifact copies in flight). */
export const DEFAULT_DEPLOY_CONCURRENCY = 16
/** How long deploy waits for freshly started agents to show up in the overlay. */
export const DEFAULT_APPEAR_TIMEOUT_MS = 60_000
export const DEFAULT_PREFIX = '/opt/ops-agent'
export const DEFAULT_LISTEN = 'tcp://0.0.0.0:4001'
/** One attempt to join the overlay for the check; a refused dial is retried every JOIN_RETRY_MS until the deadline. */
const JOIN_ATTEMPT_MS = 10_000
const JOIN_RETRY_MS = 500
/** The systemd unit deploy installs on hosts that run systemd. */
export const DEPLOY_UNIT = 'ops-agent'

export interface DeployOptions {
  targets: SshTarget[]
  /** the artifact tarball (npm run build:agent) */
  artifact: string
  /**
   * overlay addresses the agents join; the first is also where deploy looks for them. Empty for the first host of
   * an overlay (nothing to join yet), and an address that is the host itself (its own host and listen port, as in
   * "the bastion joins itself") is left out for that host.
   */
  join: string[]
  /** where this machine joins the overlay to check the agents appeared (default `join[0]`, or each host's own listen
   * address when it joins nothing; e.g. the bastion's public address when the hosts join it on a private one) */
  via?: string
  /** controller peer IDs the agents obey */
  trust: string[]
  /** tags for every host (an inventory line's own tags win) */
  tags?: Record<string, string>
  /** install folder on each host; `{host}` becomes the target's host */
  prefix?: string
  /** agent listen address; `{host}` likewise */
  listen?: string
  /** more `agent` flags, e.g. `--keepalive-ms 300` */
  agentArgs?: string[]
  ssh?: SshOptions
  /** key used to join the overlay for the check (default: a throwaway key) */
  key?: PrivateKey
  appearTimeoutMs?: number
  concurrency?: number
  service?: ServiceManager
  signal?: AbortSignal
  /** each host's outcome as soon as it is known */
  onHost?: (o: HostOutcome) => void
}

export interface HostOutcome {
  target: string
  status: 'ok' | 'failed' | 'unreachable'
  /** false when the host already ran this artifact with this config (nothing was touched) */
  changed?: boolean
  /** how the agent is kept running there: `detached` or `systemd ops-agent` */
  service?: string
  peer?: string
  reason?: string
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter(l => l.trim() !== '')
      .pop() ?? 'no output'
  )
}

/** sha256 (hex) of the artifact and the name of its top folder (from the first tar header). */
export async function artifactIdentity(file: string): Promise<{ sha256: string; name: string }> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  let head = Buffer.alloc(0)
  for await (const chunk of createReadStream(file).pipe(createGunzip())) {
    head = Buffer.concat([head, chunk as Buffer])
    if (head.length >= 512) break
  }
  const name = head.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '').replace(/\/.*$/s, '')
  if (head.length < 512 || !/^ops-agent-[\w.-]+$/.test(name)) {
    throw new Error(`${file} is not an ops-agent artifact (first entry "${name}")`)
  }
  return { sha256: h.digest('hex'), name }
}

async function deployHost(t: SshTarget, o: DeployOptions, art: { sha256: string; name: string }): Promise<HostOutcome> {
  const ssh = o.ssh ?? {}
  const prefix = forHost(o.prefix ?? DEFAULT_PREFIX, t)
  const probe = await sshScript(t, probeScript(prefix, art.sha256), ssh, o.signal)
  if (probe.code === SSH_CONNECT_FAILED)
    return { target: t.spec, status: 'unreachable', reason: lastLine(probe.stderr) }
  if (probe.code !== 0) return { target: t.spec, status: 'failed', reason: `probe: ${lastLine(probe.stderr)}` }
  // one name per copy: hosts sharing a /tmp (or two deploys to one host) must not extract or delete each other's
  const upload = `/tmp/ops-agent-${art.sha256.slice(0, 16)}-${randomBytes(6).toString('hex')}.tar.gz`
  if (probe.stdout.trim() !== 'have') {
    const cp = await scpTo(t, o.artifact, upload, ssh, o.signal)
    if (cp.code !== 0) return { target: t.spec, status: 'failed', reason: `copy: ${lastLine(cp.stderr)}` }
  }
  const listen = forHost(o.listen ?? DEFAULT_LISTEN, t)
  const args = ['--data-dir', `${prefix}/data`, '--listen', listen]
  for (const j of joinsFor(o.join, t, listen)) args.push('--join', j)
  for (const id of o.trust) args.push('--trust', id)
  for (const [k, v] of Object.entries({ ...o.tags, ...t.tags })) args.push('--tag', `${k}=${v}`)
  args.push(...(o.agentArgs ?? []))
  const script = installScript({
    prefix,
    sha256: art.sha256,
    name: art.name,
    upload,
    args,
    // systemd where the host runs it, else the detached supervisor (decided on the host)
    service:
      o.service ??
      hostService(DEPLOY_UNIT, renderUnit({ execStart: [`${prefix}/current/bin/ops-agent`, 'agent', ...args] })),
  })
  const r = await sshScript(t, script, ssh, o.signal)
  if (r.code === SSH_CONNECT_FAILED) return { target: t.spec, status: 'unreachable', reason: lastLine(r.stderr) }
  const result = /^result changed=([01]) peer=(\S+) service=(.+)$/m.exec(r.stdout)
  if (r.code !== 0 || result === null) {
    const err = /^error (.*)$/m.exec(r.stdout)?.[1] ?? lastLine(`${r.stdout}\n${r.stderr}`)
    return { target: t.spec, status: 'failed', reason: err }
  }
  return { target: t.spec, status: 'ok', changed: result[1] === '1', peer: result[2]!, service: result[3]! }
}

/**
 * Deploys to every target (at most `concurrency` at once), then waits until each installed agent is routable in
 * the overlay joined through `join[0]`.
 *
 * @example
 * ```ts
 * const outcomes = await deploy({
 *   targets: [parseSshTarget('root@10.0.0.5')], artifact: 'dist/artifacts/ops-agent-0.1.0-linux-x64.tar.gz',
 *   join: ['tcp://10.0.0.1:4001'], trust: ['12D3KooW…'],
 * })
 * ```
 */
export async function deploy(o: DeployOptions): Promise<HostOutcome[]> {
  const art = await artifactIdentity(o.artifact)
  const outcomes: HostOutcome[] = new Array(o.targets.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < o.targets.length) {
      const i = next++
      outcomes[i] = await deployHost(o.targets[i]!, o, art).catch(
        (err: Error): HostOutcome => ({ target: o.targets[i]!.spec, status: 'failed', reason: err.message }),
      )
    }
  }
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency ?? DEFAULT_DEPLOY_CONCURRENCY, o.targets.length) }, worker),
  )
  // each installed host is looked for where it should show up: --via, else what it joined, else itself
  const byVia = new Map<string, HostOutcome[]>()
  outcomes.forEach((x, i) => {
    if (x.status !== 'ok') return
    const t = o.targets[i]!
    const listen = forHost(o.listen ?? DEFAULT_LISTEN, t)
    const via = o.via ?? joinsFor(o.join, t, listen)[0] ?? ownAddress(listen, t)
    if (via === undefined) {
      x.status = 'failed'
      x.reason = `installed, but it joins nothing and listens on no fixed port (${listen}): give --via to check it`
      return
    }
    byVia.set(via, [...(byVia.get(via) ?? []), x])
  })
  await Promise.all([...byVia].map(([via, waiting]) => checkOverlay(o, via, waiting)))
  for (const x of outcomes) o.onHost?.(x)
  return outcomes
}

/**
 * Joins the overlay through `via`, retrying until the deadline: a freshly started agent (the first host, checked
 * through itself) listens only a moment after its service started.
 */
async function joinWhenUp(o: DeployOptions, via: string, deadline: number): Promise<Fleet> {
  const key = o.key ?? (await generateKey())
  for (;;) {
    const left = deadline - Date.now()
    try {
      return await joinFleet({ key, via, joinTimeoutMs: Math.max(1_000, Math.min(left, JOIN_ATTEMPT_MS)) })
    } catch (err) {
      if (Date.now() + JOIN_RETRY_MS >= deadline || o.signal?.aborted === true) throw err
      await new Promise(r => setTimeout(r, JOIN_RETRY_MS))
    }
  }
}

/** Marks each `ok` outcome whose peer never became routable through `via` as failed. */
async function checkOverlay(o: DeployOptions, via: string, waiting: HostOutcome[]): Promise<void> {
  const timeout = o.appearTimeoutMs ?? DEFAULT_APPEAR_TIMEOUT_MS
  const deadline = Date.now() + timeout
  let fleet: Fleet
  try {
    fleet = await joinWhenUp(o, via, deadline)
  } catch (err) {
    for (const w of waiting) {
      w.status = 'failed'
      w.reason = `installed, but the overlay could not be checked: ${(err as Error).message}`
    }
    return
  }
  try {
    const seen = (): Set<string> => new Set(fleet.peers().map(p => p.toString()))
    while (Date.now() < deadline && !waiting.every(w => seen().has(w.peer!)) && o.signal?.aborted !== true) {
      await new Promise(r => setTimeout(r, 200))
    }
    const now = seen()
    for (const w of waiting) {
      if (now.has(w.peer!)) continue
      w.status = 'failed'
      w.reason = `agent ${w.peer} started but did not appear in the overlay within ${Math.round(timeout / 1000)} s (see its log/agent.log)`
    }
  } finally {
    await fleet.close()
  }
}
