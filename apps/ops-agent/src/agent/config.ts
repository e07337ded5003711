/**
 * Agent configuration from a file, for agents run as a service: the same settings as the `agent` flags, in TOML
 * (`.toml`) or YAML (`.yaml`, `.yml`), keys spelled like the flags. Flags given on the command line override the
 * file: a list flag (`--listen`, `--join`, `--trust`) replaces the file's list, `--tag k=v` overrides that one tag.
 *
 * ```toml
 * data-dir = "/var/lib/ops-agent"
 * listen = ["tcp://0.0.0.0:4001"]
 * join = ["tcp://10.0.0.1:4001"]
 * trust = ["12D3KooW…"]
 * log-level = "info"
 *
 * [tag]
 * role = "web"
 * ```
 */
import { readFile, stat } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import { parseAddress, parsePeerId } from '@pnet/network'
import { parse as parseToml, TomlError } from 'smol-toml'
import { parseDocument } from 'yaml'
import { MAX_CONFIG_BYTES } from '../limits.js'
import { parseTag } from './tags.js'

/** Log levels an agent accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Agent settings, each optional: what a file or the flags say. */
export interface AgentConfig {
  dataDir?: string
  listen?: string[]
  join?: string[]
  tags?: Record<string, string>
  trust?: string[]
  logLevel?: LogLevel
  keepaliveMs?: number
  linkTimeoutMs?: number
}

/** Complete agent settings, ready for `startAgent`: the merge of file and flags, with everything required present. */
export interface AgentSettings {
  dataDir: string
  listen: string[]
  join: string[]
  tags: Record<string, string>
  trust: string[]
  logLevel: LogLevel
  keepaliveMs?: number
  linkTimeoutMs?: number
}

/** A configuration that cannot be used; names the file (or `flags`), the key and what was wrong. */
export class ConfigError extends Error {
  readonly code = 'ERR_BAD_CONFIG'
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(
      file === 'flags' && key !== undefined
        ? `--${key.replace(/[[.].*$/, '')}: ${problem}`
        : `${file}${key === undefined ? '' : `: ${key}`}: ${problem}`,
      options,
    )
    this.name = 'ConfigError'
  }
}

type Kind = 'path' | 'addresses' | 'peers' | 'tags' | 'level' | 'ms'

/** Every key a file may hold, spelled like its flag, with the field it sets. */
const KEYS: Record<string, { field: keyof AgentConfig; kind: Kind }> = {
  'data-dir': { field: 'dataDir', kind: 'path' },
  listen: { field: 'listen', kind: 'addresses' },
  join: { field: 'join', kind: 'addresses' },
  tag: { field: 'tags', kind: 'tags' },
  trust: { field: 'trust', kind: 'peers' },
  'log-level': { field: 'logLevel', kind: 'level' },
  'keepalive-ms': { field: 'keepaliveMs', kind: 'ms' },
  'link-timeout-ms': { field: 'linkTimeoutMs', kind: 'ms' },
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (v instanceof Date) return 'a date'
  return typeof v === 'object' ? 'a table' : `${typeof v} ${JSON.stringify(v)}`
}

function suggest(key: string): string {
  const near = Object.keys(KEYS).find(k => editDistance(k, key) <= 2 || k.startsWith(key) || key.startsWith(k))
  return near === undefined ? '' : ` (did you mean "${near}"?)`
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]!
}

function stringList(file: string, key: string, v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list))
    throw new ConfigError(file, key, `must be a string or a list of strings, not ${describe(v)}`)
  return list.map((item, i) => {
    if (typeof item !== 'string' || item === '') {
      throw new ConfigError(file, `${key}[${i}]`, `must be a non-empty string, not ${describe(item)}`)
    }
    return item
  })
}

/**
 * Checks raw settings (a parsed file, or flags gathered into an object with flag-named keys) and turns them into an
 * AgentConfig. `source` names where they came from in errors; relative `data-dir` resolves against `baseDir`.
 *
 * @example
 * ```ts
 * validateAgentConfig({ listen: 'tcp://0.0.0.0:4001', tag: { role: 'web' } }, 'agent.toml', '/etc/ops-agent')
 * // { listen: ['tcp://0.0.0.0:4001'], tags: { role: 'web' } }
 * ```
 */
export function validateAgentConfig(raw: unknown, source: string, baseDir = process.cwd()): AgentConfig {
  if (raw === null || raw === undefined) return {}
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, undefined, `must hold a table of settings, not ${describe(raw)}`)
  }
  const out: AgentConfig = {}
  for (const [key, value] of Object.entries(raw)) {
    const spec = KEYS[key]
    if (spec === undefined) {
      throw new ConfigError(source, key, `unknown key${suggest(key)}; known keys: ${Object.keys(KEYS).join(', ')}`)
    }
    switch (spec.kind) {
      case 'path':
        if (typeof value !== 'string' || value === '') {
          throw new ConfigError(source, key, `must be a non-empty path, not ${describe(value)}`)
        }
        out.dataDir = resolve(baseDir, value)
        break
      case 'addresses': {
        const list = stringList(source, key, value)
        list.forEach((a, i) => {
          try {
            parseAddress(a)
          } catch (err) {
            throw new ConfigError(source, `${key}[${i}]`, (err as Error).message, { cause: err })
          }
        })
        if (spec.field === 'listen') out.listen = list
        else out.join = list
        break
      }
      case 'peers': {
        const list = stringList(source, key, value)
        out.trust = list.map((p, i) => {
          try {
            return parsePeerId(p).toString()
          } catch (err) {
            throw new ConfigError(source, `${key}[${i}]`, `"${p}" is not a peer ID: ${(err as Error).message}`, {
              cause: err,
            })
          }
        })
        break
      }
      case 'tags': {
        if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
          throw new ConfigError(source, key, `must be a table of name = value, not ${describe(value)}`)
        }
        const tags: Record<string, string> = {}
        for (const [k, v] of Object.entries(value)) {
          if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
            throw new ConfigError(source, `${key}.${k}`, `must be a string, number or boolean, not ${describe(v)}`)
          }
          try {
            const [name, text] = parseTag(`${k}=${String(v)}`)
            tags[name] = text
          } catch (err) {
            throw new ConfigError(source, `${key}.${k}`, (err as Error).message.replace(/^--tag /, 'tag '), {
              cause: err,
            })
          }
        }
        out.tags = tags
        break
      }
      case 'level':
        if (typeof value !== 'string' || !(LOG_LEVELS as readonly string[]).includes(value)) {
          throw new ConfigError(source, key, `must be one of ${LOG_LEVELS.join(', ')}, not ${describe(value)}`)
        }
        out.logLevel = value as LogLevel
        break
      case 'ms':
        if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
          throw new ConfigError(source, key, `must be a positive whole number of milliseconds, not ${describe(value)}`)
        }
        if (spec.field === 'keepaliveMs') out.keepaliveMs = value
        else out.linkTimeoutMs = value
        break
    }
  }
  return out
}

/**
 * Parses configuration text; the format follows the file name (`.toml`, `.yaml`/`.yml`). Syntax errors name the
 * file, line and column.
 *
 * @example
 * ```ts
 * parseAgentConfig('listen = ["tcp://0.0.0.0:4001"]\n', '/etc/ops-agent/agent.toml')
 * ```
 */
export function parseAgentConfig(text: string, file: string): AgentConfig {
  const ext = extname(file).toLowerCase()
  let raw: unknown
  if (ext === '.toml') {
    try {
      raw = parseToml(text)
    } catch (err) {
      const where = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ` : ''
      const first = (err as Error).message.split('\n')[0]
      throw new ConfigError(file, undefined, `not valid TOML: ${where}${first}`, { cause: err })
    }
  } else if (ext === '.yaml' || ext === '.yml') {
    // YAML 1.2 core schema: `no`/`on` stay strings, so a tag value like `no` is not silently a boolean
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true })
    const err = doc.errors[0]
    if (err !== undefined) {
      const pos = err.linePos?.[0]
      const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `
      throw new ConfigError(
        file,
        undefined,
        `not valid YAML: ${where}${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        { cause: err },
      )
    }
    raw = doc.toJS()
  } else {
    throw new ConfigError(file, undefined, `unknown format "${ext || '(no extension)'}"; use .toml, .yaml or .yml`)
  }
  return validateAgentConfig(raw, file, dirname(resolve(file)))
}

/**
 * Reads and checks an agent configuration file (at most MAX_CONFIG_BYTES).
 *
 * @example
 * ```ts
 * const file = await loadAgentConfig('/etc/ops-agent/agent.toml')
 * ```
 */
export async function loadAgentConfig(file: string): Promise<AgentConfig> {
  let text: string
  try {
    const info = await stat(file)
    if (!info.isFile()) throw new ConfigError(file, undefined, 'is not a regular file')
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(file, undefined, `is ${info.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may be`)
    }
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(file, undefined, `cannot be read: ${(err as Error).message}`, { cause: err })
  }
  return parseAgentConfig(text, file)
}

/**
 * Merges file settings with flag settings: a flag wins; a list flag replaces the file's list; tags merge by name.
 *
 * @example
 * ```ts
 * mergeAgentConfig({ listen: ['tcp://0.0.0.0:4001'], tags: { role: 'web', dc: 'a' } }, { tags: { dc: 'b' } })
 * // { listen: ['tcp://0.0.0.0:4001'], tags: { role: 'web', dc: 'b' } }
 * ```
 */
export function mergeAgentConfig(file: AgentConfig, flags: AgentConfig): AgentConfig {
  const merged: AgentConfig = { ...file }
  for (const [k, v] of Object.entries(flags) as [keyof AgentConfig, unknown][]) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue
    if (k === 'tags') merged.tags = { ...file.tags, ...(v as Record<string, string>) }
    else (merged as Record<string, unknown>)[k] = v
  }
  return merged
}

/**
 * The settings an agent runs with: the file (if any) merged under the flags, checked for what is required.
 *
 * @example
 * ```ts
 * const settings = await resolveAgentSettings({ config: '/etc/ops-agent/agent.toml', flags: { logLevel: 'debug' } })
 * const agent = await startAgent({ ...settings, logger })
 * ```
 */
export async function resolveAgentSettings(opts: { config?: string; flags?: AgentConfig }): Promise<AgentSettings> {
  const file = opts.config === undefined ? {} : await loadAgentConfig(opts.config)
  const m = mergeAgentConfig(file, opts.flags ?? {})
  const where = opts.config === undefined ? 'flags' : `${opts.config} and flags`
  const missing = (what: string) => new ConfigError(where, undefined, `no ${what} given`)
  if (m.dataDir === undefined) throw missing('data-dir (--data-dir DIR)')
  if (m.listen === undefined || m.listen.length === 0) throw missing('listen address (--listen ADDR)')
  if (m.trust === undefined || m.trust.length === 0) throw missing('trusted controller (--trust PEER_ID)')
  return {
    dataDir: m.dataDir,
    listen: m.listen,
    join: m.join ?? [],
    tags: m.tags ?? {},
    trust: m.trust,
    logLevel: m.logLevel ?? 'info',
    ...(m.keepaliveMs !== undefined ? { keepaliveMs: m.keepaliveMs } : {}),
    ...(m.linkTimeoutMs !== undefined ? { linkTimeoutMs: m.linkTimeoutMs } : {}),
  }
}

/**
 * The `agent` command's parsed flag values (node:util parseArgs shape, flag names as keys) as an AgentConfig,
 * checked like a file so a bad flag gets the same clear error.
 *
 * @example
 * ```ts
 * agentFlags({ listen: ['tcp://0.0.0.0:4001'], tag: ['role=web'], 'log-level': 'debug' })
 * ```
 */
export function agentFlags(values: Record<string, unknown>): AgentConfig {
  const raw: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || k === 'config') continue
    if (k === 'tag') {
      raw.tag = Object.fromEntries(
        (v as string[]).map(t => {
          try {
            return parseTag(t)
          } catch (err) {
            throw new ConfigError('flags', 'tag', (err as Error).message.replace(/^--tag /, ''), { cause: err })
          }
        }),
      )
    } else if (k === 'keepalive-ms' || k === 'link-timeout-ms') raw[k] = Number(v)
    else raw[k] = v
  }
  return validateAgentConfig(raw, 'flags')
}
