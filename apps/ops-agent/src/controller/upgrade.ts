/**
 * `ops-agent upgrade`: the artifact goes out by the push path as a signed `upgrade` job (pushFile with `upgrade`),
 * so its sha256 is signed by this controller with everything else. Each agent answers `running` when it has
 * unpacked the artifact and is restarting into it; this side then collects the job's outcome from those hosts
 * (collect jobs, every UPGRADE_COLLECT_INTERVAL_MS, while they restart) until each says `ok` (with both versions) or
 * `failed` (rolled back, with why), or the health timeout plus a margin has passed.
 */
import { basename } from 'node:path'
import { artifactIdentity } from '../deploy/deploy.js'
import { DEFAULT_UPGRADE_HEALTH_MS } from '../limits.js'
import { type ExecRun, type ExecSummary, execute, type HostResult } from './exec.js'
import { type PushOptions, pushFile } from './push.js'
import { parseSelectors } from './selector.js'

/** Pause between two rounds of asking restarting hosts for the outcome. */
const UPGRADE_COLLECT_INTERVAL_MS = 1_000
/** Beyond the health timeout, how long the outcome may take to be recorded and collected. */
const UPGRADE_COLLECT_MARGIN_MS = 30_000

export interface UpgradeOptions extends Omit<PushOptions, 'local' | 'remote' | 'mode' | 'owner' | 'upgrade'> {
  /** the artifact (npm run build:agent) */
  artifact: string
  /** time a host's new release has to start and rejoin before it is rolled back */
  healthTimeoutMs?: number
}

export interface UpgradeRun extends ExecRun {
  sha256: string
  /** the artifact's top folder, e.g. ops-agent-0.2.0-linux-x64 */
  name: string
}

/**
 * Upgrades every target to `artifact`; per-host `ok` (stdout says `upgraded A -> B`), `failed` (with the reason:
 * refused artifact, or a new release that did not come up and was rolled back), `refused` (e.g. not installed by
 * deploy), `unreachable`.
 *
 * @example
 * ```ts
 * const run = await upgradeFleet({ key, fleet, selectors: parseSelectors(['*']), artifact: 'ops-agent-0.2.0-linux-x64.tar.gz' })
 * ```
 */
export async function upgradeFleet(opts: UpgradeOptions): Promise<UpgradeRun> {
  const art = await artifactIdentity(opts.artifact)
  const healthTimeoutMs = opts.healthTimeoutMs ?? DEFAULT_UPGRADE_HEALTH_MS
  const { events } = opts
  const restarting: string[] = []
  const first = await pushFile({
    ...opts,
    local: opts.artifact,
    remote: `/${basename(opts.artifact)}`,
    mode: '0600',
    upgrade: { healthTimeoutMs },
    // `running` means "restarting into it": not an outcome yet, so not shown or recorded as one
    events: {
      ...events,
      done: r => {
        if (r.status === 'running') restarting.push(r.peer)
        else events?.done?.(r)
      },
    },
  })
  const results = new Map(first.results.map(r => [r.peer, r]))
  const deadline = Date.now() + healthTimeoutMs + UPGRADE_COLLECT_MARGIN_MS
  let waiting = [...restarting]
  const lastSeen = new Map<string, string>()
  while (waiting.length > 0 && opts.signal?.aborted !== true) {
    const round = await execute({
      key: opts.key,
      fleet: opts.fleet,
      selectors: parseSelectors(waiting.map(p => `id=${p}`)),
      job: { kind: 'collect', collects: first.jobId },
      command: { argv: [], timeoutMs: 5_000, killGraceMs: 0 },
    })
    for (const r of round.results) {
      if (r.status === 'ok' || r.status === 'failed') {
        const host = results.get(r.peer)?.host ?? r.host
        const done: HostResult = { ...r, host, stdout: r.stdout, reason: r.reason }
        results.set(r.peer, done)
        events?.done?.(done)
        waiting = waiting.filter(p => p !== r.peer)
      } else lastSeen.set(r.peer, r.reason ?? r.status)
    }
    if (waiting.length === 0 || Date.now() >= deadline) break
    await new Promise(r => setTimeout(r, UPGRADE_COLLECT_INTERVAL_MS))
  }
  for (const peer of waiting) {
    const prev = results.get(peer)
    const done: HostResult = {
      ...(prev as HostResult),
      status: opts.signal?.aborted === true ? 'cancelled' : 'failed',
      reason: `no upgrade outcome within ${Math.round((healthTimeoutMs + UPGRADE_COLLECT_MARGIN_MS) / 1000)} s (last: ${lastSeen.get(peer) ?? 'nothing'}); ask again with ops-agent job ${first.jobId}`,
    }
    results.set(peer, done)
    events?.done?.(done)
  }
  const summary: ExecSummary = {
    ...first.summary,
    running: undefined,
    ok: 0,
    failed: 0,
    timeout: 0,
    unreachable: 0,
    refused: 0,
    cancelled: 0,
  }
  for (const r of results.values()) if (r.status !== 'running') summary[r.status]++
  return { ...first, results: [...results.values()], summary, sha256: art.sha256, name: art.name }
}
