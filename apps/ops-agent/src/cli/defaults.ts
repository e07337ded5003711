/**
 * Where a controller command's key, join address and job history come from when the flags do not say, in the order
 * ssh and Salt taught people to expect: a flag, else an environment variable, else the controller's config file,
 * else a default under $XDG_CONFIG_HOME/ops-agent. `ops-agent config` prints the result and where each value came from.
 *
 * The config file is JSON, every field optional; relative paths are relative to the file:
 *
 * ```json
 * { "key": "controller.key", "via": "tcp://10.0.0.1:4001", "db": "jobs.db" }
 * ```
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { KeyFileError, loadKey } from '@pnet/network'
import { UsageError } from './errors.js'

export type SettingSource = 'flag' | 'env' | 'file' | 'default'

/** A value in effect and where it came from (`from`: the variable or file that said so). */
export interface Setting<T = string> {
  value: T
  source: SettingSource
  from?: string
}

export interface ControllerSettings {
  /** the controller's key file, as given (a flag's text) or absolute (env, file, default) */
  key: Setting
  via: Setting<string | undefined>
  db: Setting
  /** the config file itself: always the default path; `exists` says whether it was read */
  config: Setting & { exists: boolean }
}

/** The controller config file's fields. */
export interface ControllerConfig {
  key?: string
  via?: string
  db?: string
}

export const KEY_ENV = 'OPS_AGENT_KEY'
export const VIA_ENV = 'OPS_AGENT_VIA'

/** A config file that cannot be read as the controller's config: a usage error (exit 2) naming the file. */
export class ControllerConfigError extends UsageError {
  override readonly name: string = 'ControllerConfigError'
  override readonly code: string = 'ERR_CONTROLLER_CONFIG'
}

/** A controller key file that is not there: only `keygen` creates one, so a typo never makes a new identity. */
export class MissingKeyError extends UsageError {
  override readonly name: string = 'MissingKeyError'
  override readonly code: string = 'ERR_NO_KEY_FILE'
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message)
  }
}

/** `$XDG_CONFIG_HOME/ops-agent`, or `~/.config/ops-agent` (XDG says to ignore a relative XDG_CONFIG_HOME). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  return join(xdg?.startsWith('/') ? xdg : join(env.HOME ?? homedir(), '.config'), 'ops-agent')
}

/** Reads the config file; a missing file is an empty config. */
export function readControllerConfig(path: string): { config: ControllerConfig; exists: boolean } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { config: {}, exists: false }
    throw new ControllerConfigError(`cannot read ${path}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ControllerConfigError(`${path} is not JSON: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ControllerConfigError(`${path} must hold a JSON object like {"via": "tcp://10.0.0.1:4001"}`)
  }
  const config: ControllerConfig = {}
  for (const [k, v] of Object.entries(raw)) {
    // a misspelt field would be ignored without a word: say so instead
    if (k !== 'key' && k !== 'via' && k !== 'db') {
      throw new ControllerConfigError(`${path}: unknown field "${k}" (known: key, via, db)`)
    }
    if (typeof v !== 'string' || v === '') throw new ControllerConfigError(`${path}: "${k}" must be a non-empty string`)
    config[k] = k === 'via' ? v : resolve(dirname(path), v)
  }
  return { config, exists: true }
}

/**
 * The key, join address and history in effect for a controller command, from its flags (by flag name), the
 * environment and the config file.
 *
 * @example
 * ```ts
 * controllerSettings({ via: 'tcp://10.0.0.1:4001' }, { OPS_AGENT_KEY: '/etc/ops/ctl.key' })
 * // { key: { value: '/etc/ops/ctl.key', source: 'env', from: 'OPS_AGENT_KEY' }, via: { …, source: 'flag' }, … }
 * ```
 */
export function controllerSettings(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ControllerSettings {
  const dir = configDir(env)
  const configPath = join(dir, 'config.json')
  const { config, exists } = readControllerConfig(configPath)
  const flag = (name: string): string | undefined => {
    const v = flags[name]
    return typeof v === 'string' && v !== '' ? v : undefined
  }
  const pick = (name: keyof ControllerConfig, envName: string | undefined, fallback: string | undefined) => {
    const f = flag(name)
    if (f !== undefined) return { value: f, source: 'flag' as const }
    const e = envName === undefined ? undefined : env[envName]
    if (envName !== undefined && e !== undefined && e !== '') return { value: e, source: 'env' as const, from: envName }
    if (config[name] !== undefined) return { value: config[name], source: 'file' as const, from: configPath }
    return { value: fallback, source: 'default' as const }
  }
  return {
    key: pick('key', KEY_ENV, join(dir, 'controller.key')) as Setting,
    via: pick('via', VIA_ENV, undefined),
    db: pick('db', undefined, join(dir, 'jobs.db')) as Setting,
    config: { value: configPath, source: 'default', exists },
  }
}

/**
 * Reads the controller key; a file that is not there is a MissingKeyError (exit 2) that says how to make one, and
 * nothing is created.
 */
export async function loadControllerKey(key: Setting): Promise<PrivateKey> {
  try {
    return await loadKey(resolve(key.value))
  } catch (err) {
    const missing = err instanceof KeyFileError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
    if (!missing) throw err
    const hint =
      key.source === 'flag'
        ? `create one with: ops-agent keygen --key ${key.value}`
        : `${key.from === undefined ? '' : `from ${key.source === 'env' ? `$${key.from}` : key.from}; `}create one with: ops-agent keygen`
    throw new MissingKeyError(key.value, `no key file at ${key.value} (${hint})`)
  }
}

/** `ops-agent config`: each setting in effect, and where it came from. */
export function describeSettings(s: ControllerSettings, json: boolean): string {
  if (json) return JSON.stringify(s, null, 2)
  const where = (x: Setting<unknown>): string =>
    x.source === 'env' ? `env ${x.from}` : x.source === 'file' ? `file ${x.from}` : x.source
  const rows: [string, string, string][] = [
    ['key', s.key.value, where(s.key)],
    ['via', s.via.value ?? '(none: give --via, set $OPS_AGENT_VIA or "via" in the config file)', where(s.via)],
    ['db', s.db.value, where(s.db)],
    ['config', s.config.value, s.config.exists ? 'read' : 'not present'],
  ]
  const w = Math.max(...rows.map(r => r[1].length))
  return rows.map(([k, v, src]) => `${k.padEnd(7)}${v.padEnd(w)}  ${src}`).join('\n')
}
