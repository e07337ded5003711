/**
 * Deploy targets: `USER@HOST[:PORT]` from --ssh flags or an inventory file (one host a line, optional `key=value`
 * tags after it, `#` comments), the way pdsh/ansible inventories read.
 */
import { readFile } from 'node:fs/promises'
import { parseAddress } from '@pnet/network'
import { parseTag } from '../agent/tags.js'

export interface SshTarget {
  /** as written, e.g. root@10.0.0.5:2222 */
  spec: string
  user?: string
  host: string
  port?: number
  /** tags for this host only (inventory lines) */
  tags: Record<string, string>
}

export class DeployInputError extends Error {
  readonly code = 'ERR_DEPLOY_INPUT'
}

const HOST_RE = /^(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/

/**
 * Parses `USER@HOST[:PORT]` (IPv6 in brackets).
 *
 * @example
 * ```ts
 * parseSshTarget('root@10.0.0.5:2222')   // { spec, user: 'root', host: '10.0.0.5', port: 2222, tags: {} }
 * ```
 */
export function parseSshTarget(spec: string, tags: Record<string, string> = {}): SshTarget {
  const m = HOST_RE.exec(spec)
  const port = m?.[3] === undefined ? undefined : Number(m[3])
  if (m === null || (port !== undefined && (port < 1 || port > 65_535))) {
    throw new DeployInputError(`"${spec}" is not USER@HOST[:PORT]`)
  }
  return { spec, ...(m[1] === undefined ? {} : { user: m[1] }), host: m[2]!.replace(/^\[|\]$/g, ''), port, tags }
}

/**
 * Reads an inventory: `USER@HOST[:PORT] [key=value …]` per line.
 *
 * @example
 * ```ts
 * await readInventory('fleet.txt')   // web-1 lines → [{ host: 'web-1', tags: { role: 'web' }, … }]
 * ```
 */
export async function readInventory(file: string): Promise<SshTarget[]> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new DeployInputError(`cannot read inventory ${file}: ${err.message}`)
  })
  const out: SshTarget[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') return
    const [spec, ...rest] = line.split(/\s+/)
    try {
      out.push(parseSshTarget(spec!, Object.fromEntries(rest.map(parseTag))))
    } catch (err) {
      throw new DeployInputError(`${file}:${i + 1}: ${(err as Error).message}`)
    }
  })
  if (out.length === 0) throw new DeployInputError(`inventory ${file} names no hosts`)
  return out
}

/** Replaces `{host}` in a per-host setting (prefix, listen address). */
export function forHost(template: string, target: SshTarget): string {
  return template.replaceAll('{host}', target.host)
}

const HOST_PARTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/** An address as its host and the rest (transport and port, without /p2p), or undefined when it is not one. */
function endpoint(address: string): { host: string; rest: string } | undefined {
  let parts: { name: string; value?: string }[]
  try {
    parts = parseAddress(address).getComponents()
  } catch {
    return undefined
  }
  const at = parts.findIndex(p => HOST_PARTS.has(p.name))
  if (at !== 0) return undefined
  const rest = parts
    .slice(1)
    .filter(p => p.name !== 'p2p')
    .map(p => (p.value === undefined ? `/${p.name}` : `/${p.name}/${p.value}`))
    .join('')
  return { host: parts[0]!.value!.toLowerCase(), rest }
}

const hostPart = (host: string): string =>
  /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? `/ip4/${host}` : host.includes(':') ? `/ip6/${host}` : `/dns/${host}`

/**
 * Where a host's agent answers, from its listen address: the target's host in place of the listen host (often
 * 0.0.0.0). Undefined when the port is chosen at start (`:0`) or the address is not host-based.
 *
 * @example
 * ```ts
 * ownAddress('tcp://0.0.0.0:4001', parseSshTarget('root@bastion.example.com'))   // '/dns/bastion.example.com/tcp/4001'
 * ```
 */
export function ownAddress(listen: string, target: SshTarget): string | undefined {
  const e = endpoint(listen)
  if (e === undefined || /^\/(tcp|udp)\/0(\/|$)/.test(e.rest)) return undefined
  return `${hostPart(target.host)}${e.rest}`
}

/**
 * The join addresses for one host, without those that are the host itself: the first agent of an overlay has
 * nothing to join, and the guide's "the bastion joins itself" would only make it dial itself.
 *
 * @example
 * ```ts
 * joinsFor(['tcp://bastion:4001'], parseSshTarget('root@bastion'), 'tcp://0.0.0.0:4001')   // []
 * ```
 */
export function joinsFor(join: string[], target: SshTarget, listen: string): string[] {
  const own = endpoint(listen)
  if (own === undefined || /^\/(tcp|udp)\/0(\/|$)/.test(own.rest)) return join
  const names = new Set([target.host.toLowerCase(), own.host])
  return join.filter(j => {
    const e = endpoint(j)
    return e === undefined || !(names.has(e.host) && e.rest === own.rest)
  })
}
