/**
 * Deploy targets: `USER@HOST[:PORT]` from --ssh flags or an inventory file (one host a line, optional `key=value`
 * tags after it, `#` comments), the way pdsh/ansible inventories read.
 */
import { readFile } from 'node:fs/promises'
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
