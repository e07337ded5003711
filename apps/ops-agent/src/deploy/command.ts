/**
 * `ops-agent deploy` flags → deploy(), and the per-host report a person reads (or `--json` lines for scripts).
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadOrCreateKey, parsePeerId } from '@pnet/network'
import { parseTag } from '../agent/tags.js'
import { OPS_VERSION } from '../protocol/reports.js'
import { DEFAULT_LISTEN, DEFAULT_PREFIX, deploy, type HostOutcome } from './deploy.js'
import { DeployInputError, parseSshTarget, readInventory, type SshTarget } from './hosts.js'

export const DEPLOY_USAGE = `deploy (--ssh USER@HOST[:PORT] … | --inventory FILE) [--join ADDR] --trust PEER_ID
                                                 copy the artifact over ssh, configure and start the agent, wait
                                                 until it is in the overlay (the first host: no --join, or one that
                                                 names itself); --tag key=value, --artifact FILE,
                                                 --prefix DIR (${DEFAULT_PREFIX}), --listen ADDR (${DEFAULT_LISTEN}),
                                                 --ssh-option OPT, --identity FILE, --key FILE, --concurrency N, --json,
                                                 --via ADDR (where this machine checks the overlay; default --join,
                                                 else the host itself)`

/** Where `npm run build:agent` puts the artifact, when this CLI runs from the repo. */
function repoArtifact(): string | undefined {
  const file = fileURLToPath(
    new URL(`../../../../dist/artifacts/ops-agent-${OPS_VERSION}-linux-x64.tar.gz`, import.meta.url),
  )
  return existsSync(file) ? file : undefined
}

/**
 * Runs `ops-agent deploy ARGS`; resolves to the exit code (0 when every host is ok). Bad flags throw
 * DeployInputError (a usage error for the CLI).
 *
 * @example
 * ```ts
 * await deployCommand(['--ssh', 'root@10.0.0.5', '--join', 'tcp://10.0.0.1:4001', '--trust', id], console.log)
 * ```
 */
export async function deployCommand(argv: string[], out: (line: string) => void): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: argv,
      options: {
        ssh: { type: 'string', multiple: true },
        inventory: { type: 'string' },
        join: { type: 'string', multiple: true },
        via: { type: 'string' },
        trust: { type: 'string', multiple: true },
        tag: { type: 'string', multiple: true },
        artifact: { type: 'string' },
        prefix: { type: 'string' },
        listen: { type: 'string' },
        'ssh-option': { type: 'string', multiple: true },
        identity: { type: 'string' },
        key: { type: 'string' },
        concurrency: { type: 'string' },
        'agent-arg': { type: 'string', multiple: true },
        'wait-ms': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }).values
  } catch (err) {
    throw new DeployInputError((err as Error).message)
  }
  const list = (k: string): string[] => (values[k] as string[] | undefined) ?? []
  const targets: SshTarget[] = list('ssh').map(s => parseSshTarget(s))
  if (typeof values.inventory === 'string') targets.push(...(await readInventory(values.inventory)))
  if (targets.length === 0) throw new DeployInputError('ops-agent deploy needs --ssh USER@HOST or --inventory FILE')
  // no --join: the first agent of an overlay (deploy then checks it through its own listen address)
  const join = list('join')
  const trust = list('trust')
  if (trust.length === 0) throw new DeployInputError('ops-agent deploy needs --trust PEER_ID (the controllers to obey)')
  for (const t of trust) {
    try {
      parsePeerId(t)
    } catch (err) {
      throw new DeployInputError(`--trust: ${(err as Error).message}`)
    }
  }
  const artifact = (values.artifact as string | undefined) ?? repoArtifact()
  if (artifact === undefined) throw new DeployInputError('ops-agent deploy needs --artifact FILE (npm run build:agent)')
  if (!existsSync(artifact)) throw new DeployInputError(`--artifact ${artifact} does not exist`)
  const positive = (k: string): number | undefined => {
    if (values[k] === undefined) return undefined
    const n = Number(values[k])
    if (!Number.isInteger(n) || n <= 0) throw new DeployInputError(`--${k} must be a positive integer`)
    return n
  }
  const json = values.json === true
  const outcomes = await deploy({
    targets,
    artifact: resolve(artifact),
    join,
    ...(typeof values.via === 'string' ? { via: values.via } : {}),
    trust,
    tags: Object.fromEntries(list('tag').map(parseTag)),
    prefix: values.prefix as string | undefined,
    listen: values.listen as string | undefined,
    agentArgs: list('agent-arg'),
    ssh: {
      options: list('ssh-option'),
      ...(typeof values.identity === 'string' ? { identity: values.identity } : {}),
    },
    key: typeof values.key === 'string' ? await loadOrCreateKey(resolve(values.key)) : undefined,
    concurrency: positive('concurrency'),
    appearTimeoutMs: positive('wait-ms'),
    onHost: o => out(json ? JSON.stringify(o) : hostLine(o)),
  })
  if (!json) out(summary(outcomes))
  return outcomes.every(o => o.status === 'ok') ? 0 : 1
}

function hostLine(o: HostOutcome): string {
  if (o.status === 'ok') return `${o.target}: ok (${o.changed === true ? 'installed' : 'unchanged'}, ${o.peer})`
  return `${o.target}: ${o.status}: ${o.reason}`
}

function summary(all: HostOutcome[]): string {
  const n = (s: HostOutcome['status']) => all.filter(o => o.status === s).length
  const changed = all.filter(o => o.status === 'ok' && o.changed === true).length
  return `${all.length} hosts: ${n('ok')} ok (${changed} changed), ${n('failed')} failed, ${n('unreachable')} unreachable`
}
