import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, peerIdFromKey } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import {
  agentFlags,
  ConfigError,
  loadAgentConfig,
  mergeAgentConfig,
  parseAgentConfig,
  resolveAgentSettings,
} from '../src/agent/config.js'
import { MAX_CONFIG_BYTES } from '../src/limits.js'

const peer = peerIdFromKey(await generateKey()).toString()
const other = peerIdFromKey(await generateKey()).toString()

async function configFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'ops-config-')), name)
  await writeFile(file, text)
  return file
}

const toml = `
data-dir = "/var/lib/ops-agent"
listen = ["tcp://0.0.0.0:4001", "ws://0.0.0.0:4002"]
join = "tcp://10.0.0.1:4001"
trust = ["${peer}"]
log-level = "warn"
keepalive-ms = 5000

[tag]
role = "web"
rack = 12
canary = false
`

describe('agent config file', () => {
  it('reads every setting from TOML', async () => {
    expect(await loadAgentConfig(await configFile('agent.toml', toml))).toEqual({
      dataDir: '/var/lib/ops-agent',
      listen: ['tcp://0.0.0.0:4001', 'ws://0.0.0.0:4002'],
      join: ['tcp://10.0.0.1:4001'],
      trust: [peer],
      logLevel: 'warn',
      keepaliveMs: 5000,
      tags: { role: 'web', rack: '12', canary: 'false' },
    })
  })

  it('reads the same settings from YAML, keeping YAML 1.1 booleans like "no" as strings', async () => {
    const yaml = `data-dir: ./state\nlisten:\n  - tcp://0.0.0.0:4001\ntrust: [${peer}]\ntag:\n  role: web\n  backup: no\n`
    const file = await configFile('agent.yml', yaml)
    const cfg = await loadAgentConfig(file)
    expect(cfg).toEqual({
      dataDir: join(file, '..', 'state'),
      listen: ['tcp://0.0.0.0:4001'],
      trust: [peer],
      tags: { role: 'web', backup: 'no' },
    })
  })

  it('resolves a relative data-dir against the directory of the file, not the working directory', () => {
    expect(parseAgentConfig('data-dir = "state"', '/etc/ops-agent/agent.toml').dataDir).toBe('/etc/ops-agent/state')
  })

  it('refuses unknown keys, suggesting the near one', () => {
    expect(() => parseAgentConfig('tags = { role = "web" }', '/etc/a.toml')).toThrow(
      '/etc/a.toml: tags: unknown key (did you mean "tag"?); known keys: data-dir, listen, join, tag, trust',
    )
    expect(() => parseAgentConfig('colour: blue\n', '/etc/a.yaml')).toThrow(/\/etc\/a.yaml: colour: unknown key;/)
  })

  it('names the file, the key and the problem for each bad value', () => {
    const bad: [string, RegExp][] = [
      ['listen = 4001', /a.toml: listen: must be a string or a list of strings, not number 4001/],
      ['listen = ["tcp://0.0.0.0:4001", "bogus://x"]', /a.toml: listen\[1\]: invalid address "bogus:\/\/x"/],
      ['trust = ["not-a-peer"]', /a.toml: trust\[0\]: "not-a-peer" is not a peer ID/],
      ['log-level = "loud"', /a.toml: log-level: must be one of fatal, error, warn, info, debug, trace, silent/],
      ['keepalive-ms = -5', /a.toml: keepalive-ms: must be a positive whole number of milliseconds, not number -5/],
      ['data-dir = ""', /a.toml: data-dir: must be a non-empty path/],
      ['tag = "role=web"', /a.toml: tag: must be a table of name = value, not string/],
      ['[tag]\n"bad key!" = "x"', /a.toml: tag.bad key!: tag "bad key!=x" is not key=value/],
      ['[tag]\nrole = ["a"]', /a.toml: tag.role: must be a string, number or boolean, not a list/],
    ]
    for (const [text, message] of bad) {
      expect(() => parseAgentConfig(text, '/x/a.toml'), text).toThrow(message)
    }
  })

  it('reports syntax errors with line and column, and refuses unknown formats', () => {
    expect(() => parseAgentConfig('listen = [\n  "tcp://a:1",\n  oops\n', '/x/a.toml')).toThrow(
      /\/x\/a.toml: not valid TOML: line 3, column \d+/,
    )
    expect(() => parseAgentConfig('listen: [a\n  b: c: d\n', '/x/a.yaml')).toThrow(
      /\/x\/a.yaml: not valid YAML: line \d+/,
    )
    expect(() => parseAgentConfig('trust: a\ntrust: b\n', '/x/a.yaml')).toThrow(/not valid YAML.*unique/i)
    expect(() => parseAgentConfig('{}', '/x/agent.json')).toThrow('/x/agent.json: unknown format ".json"; use .toml')
    expect(() => parseAgentConfig('- a\n- b\n', '/x/a.yaml')).toThrow(
      '/x/a.yaml: must hold a table of settings, not a list',
    )
  })

  it('an empty file is an empty config', () => {
    expect(parseAgentConfig('', '/x/a.yaml')).toEqual({})
    expect(parseAgentConfig('# nothing\n', '/x/a.toml')).toEqual({})
  })

  it(`refuses a file larger than MAX_CONFIG_BYTES (${MAX_CONFIG_BYTES}) and names a file it cannot read`, async () => {
    const big = await configFile('agent.toml', `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`)
    await expect(loadAgentConfig(big)).rejects.toThrow(/agent.toml: is \d+ bytes, more than the 262144/)
    await expect(loadAgentConfig('/nonexistent/agent.toml')).rejects.toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(/^\/nonexistent\/agent.toml: cannot be read/),
      }),
    )
  })
})

describe('flags override the file', () => {
  it('a flag wins, a list flag replaces the list, tags merge by name', () => {
    const file = parseAgentConfig(toml, '/etc/ops-agent/agent.toml')
    const merged = mergeAgentConfig(
      file,
      agentFlags({ listen: ['tcp://127.0.0.1:5001'], tag: ['role=db', 'zone=b'], 'log-level': 'debug', trust: [] }),
    )
    expect(merged.listen).toEqual(['tcp://127.0.0.1:5001'])
    expect(merged.join).toEqual(['tcp://10.0.0.1:4001'])
    expect(merged.trust).toEqual([peer])
    expect(merged.logLevel).toBe('debug')
    expect(merged.tags).toEqual({ role: 'db', rack: '12', canary: 'false', zone: 'b' })
  })

  it('flag errors name the flag', () => {
    expect(() => agentFlags({ listen: ['nope'] })).toThrow(/^--listen: invalid address "nope"/)
    expect(() => agentFlags({ trust: [peer, 'zzz'] })).toThrow(/^--trust: "zzz" is not a peer ID/)
    expect(() => agentFlags({ tag: ['novalue'] })).toThrow(/^--tag: "novalue" is not key=value/)
    expect(() => agentFlags({ 'keepalive-ms': 'soon' })).toThrow(/^--keepalive-ms: must be a positive whole number/)
  })

  it('resolves complete settings, with defaults, and says what is missing', async () => {
    const file = await configFile('agent.toml', `listen = "tcp://0.0.0.0:4001"\ntrust = "${peer}"\n`)
    await expect(resolveAgentSettings({ config: file })).rejects.toThrow(
      `${file} and flags: no data-dir (--data-dir DIR) given`,
    )
    const s = await resolveAgentSettings({ config: file, flags: { dataDir: '/srv/agent', trust: [other] } })
    expect(s).toEqual({
      dataDir: '/srv/agent',
      listen: ['tcp://0.0.0.0:4001'],
      join: [],
      tags: {},
      trust: [other],
      logLevel: 'info',
    })
    await expect(resolveAgentSettings({ flags: { dataDir: '/d', listen: ['tcp://0.0.0.0:1'] } })).rejects.toThrow(
      new ConfigError('flags', undefined, 'no trusted controller (--trust PEER_ID) given'),
    )
  })
})
