/**
 * `ops-agent deploy` flags → deploy(), and the per-host report a person reads (or `--json` lines for scripts).
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parsePeerId } from '@pnet/network'
import type { Command } from 'commander'
import { parseTag } from '../agent/tags.js'
import { loadControllerKey } from '../cli/defaults.js'
import { many } from '../cli/options.js'
import { OPS_VERSION } from '../protocol/reports.js'
import { DEFAULT_LISTEN, DEFAULT_PREFIX, deploy, type HostOutcome } from './deploy.js'
import { DeployInputError, parseSshTarget, readInventory, type SshTarget } from './hosts.js'

/** deploy's flags. */
export function deployOptions(cmd: Command): Command {
  return cmd
    .option('--ssh <user@host[:port]>', 'a host to install on (repeatable)', many)
    .option('--inventory <file>', 'hosts from a file: USER@HOST[:PORT] [key=value …] per line')
    .option(
      '--join <addr>',
      'an agent already in the overlay (repeatable; the first host needs none, and one naming the host itself is skipped)',
      many,
    )
    .option('--via <addr>', 'where this machine checks the overlay (default: --join, else the host itself)')
    .option('--trust <peer-id>', 'a controller the agents obey (repeatable)', many)
    .option('--tag <key=value>', 'a tag for every agent (repeatable)', many)
    .option('--artifact <file>', 'the agent artifact (default: the one npm run build:agent made)')
    .option('--prefix <dir>', `where it is installed (default ${DEFAULT_PREFIX})`)
    .option('--listen <addr>', `the agents' listen address (default ${DEFAULT_LISTEN})`)
    .option('--ssh-option <opt>', 'an ssh -o option (repeatable)', many)
    .option('--identity <file>', 'the ssh identity file')
    .option('--key <file>', 'the key this machine checks the overlay with (default: a throwaway key)')
    .option('--concurrency <n>', 'hosts installed at once')
    .option('--agent-arg <arg>', 'an extra agent flag (repeatable)', many)
    .option('--wait-ms <n>', 'how long to wait for each agent to appear in the overlay')
    .option('--json', 'one JSON line per host')
}

/** Where `npm run build:agent` puts the artifact, when this CLI runs from the repo. */
function repoArtifact(): string | undefined {
  const file = fileURLToPath(
    new URL(`../../../../dist/artifacts/ops-agent-${OPS_VERSION}-linux-x64.tar.gz`, import.meta.url),
  )
  return existsSync(file) ? file : undefined
}

/**
 * Runs `ops-agent deploy` with its parsed flags (by flag name); resolves to the exit code (0 when every host is ok).
 * Bad flags throw DeployInputError (a usage error for the CLI).
 *
 * @example
 * ```ts
 * await deployCommand({ ssh: ['root@10.0.0.5'], join: ['tcp://10.0.0.1:4001'], trust: [id] }, console.log)
 * ```
 */
export async function deployCommand(values: Record<string, unknown>, out: (line: string) => void): Promise<number> {
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
    // an explicit key must exist: a typo must not mint a new controller identity
    key: typeof values.key === 'string' ? await loadControllerKey({ value: values.key, source: 'flag' }) : undefined,
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
