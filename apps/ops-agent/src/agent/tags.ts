/** Tags an agent carries: automatic ones (hostname, os, arch) and its own `--tag key=value`. */
import { arch, hostname, platform } from 'node:os'

export class TagError extends Error {
  readonly code = 'ERR_BAD_TAG'
}

/** Parses `key=value`, naming the bad value. */
export function parseTag(text: string): [string, string] {
  const eq = text.indexOf('=')
  const key = text.slice(0, eq)
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(key)) {
    throw new TagError(`--tag "${text}" is not key=value with a key of letters, digits, _ . -`)
  }
  const value = text.slice(eq + 1)
  if (value.length > 256) throw new TagError(`--tag "${key}" value is longer than 256 characters`)
  return [key, value]
}

/** The agent's tags: automatic ones first, then its own (which may override them). */
export function agentTags(own: Record<string, string> = {}): Record<string, string> {
  return { hostname: hostname(), os: platform(), arch: arch(), ...own }
}
