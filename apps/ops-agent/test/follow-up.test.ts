import { describe, expect, it } from 'vitest'
import { collectCommand, PROG_ENV, shellWord } from '../src/cli/follow-up.js'

describe('the collect command --async prints', () => {
  const flags = { keyFile: '/home/ana/.ops/ctl.key', via: 'tcp://10.0.0.1:4001', dbPath: '/x/cfg/ops-agent/jobs.db' }
  const env = { XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/ana' }

  it('carries --key and --via, and --db only when it is not the default', () => {
    expect(collectCommand('ab12', flags, env)).toBe(
      'ops-agent job ab12 --wait --key /home/ana/.ops/ctl.key --via tcp://10.0.0.1:4001',
    )
    expect(collectCommand('ab12', { ...flags, dbPath: '/tmp/my jobs.db' }, env)).toBe(
      "ops-agent job ab12 --wait --key /home/ana/.ops/ctl.key --via tcp://10.0.0.1:4001 --db '/tmp/my jobs.db'",
    )
  })

  it('starts the way the CLI was started from the repository (npm run)', () => {
    expect(collectCommand('ab12', flags, { ...env, [PROG_ENV]: 'npm run --silent ops-agent --' })).toMatch(
      /^npm run --silent ops-agent -- job ab12 --wait /,
    )
  })

  it('quotes what the shell would read differently', () => {
    expect(shellWord('/ip4/10.0.0.1/tcp/4001/p2p/12D3KooW')).toBe('/ip4/10.0.0.1/tcp/4001/p2p/12D3KooW')
    expect(shellWord("it's $HOME")).toBe(`'it'\\''s $HOME'`)
    expect(shellWord('')).toBe("''")
  })
})
