import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { main, UsageError } from '../src/cli/main.js'
import { DeployInputError, forHost, joinsFor, ownAddress, parseSshTarget, readInventory } from '../src/deploy/hosts.js'
import { detachedSupervisor, installScript, shQuote } from '../src/deploy/remote.js'

describe('deploy inputs', () => {
  it('parses USER@HOST[:PORT], bracketed IPv6 and bare hosts', () => {
    expect(parseSshTarget('root@10.0.0.5:2222')).toMatchObject({ user: 'root', host: '10.0.0.5', port: 2222 })
    expect(parseSshTarget('[fd00::1]:22')).toMatchObject({ host: 'fd00::1', port: 22 })
    expect(parseSshTarget('web-1')).toMatchObject({ host: 'web-1', port: undefined })
    for (const bad of ['root@', 'a@b:70000', 'a b', '-oProxyCommand=x', '']) {
      expect(() => parseSshTarget(bad), bad).toThrow(DeployInputError)
    }
  })

  it('reads an inventory with tags and comments, naming the bad line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inv-'))
    await writeFile(join(dir, 'ok'), '# fleet\nroot@10.0.0.1 role=web\n\n  ops@db-1:2222   role=db dc=ams # primary\n')
    const hosts = await readInventory(join(dir, 'ok'))
    expect(hosts.map(h => [h.host, h.port, h.tags])).toEqual([
      ['10.0.0.1', undefined, { role: 'web' }],
      ['db-1', 2222, { role: 'db', dc: 'ams' }],
    ])
    await writeFile(join(dir, 'bad'), 'root@10.0.0.1\nroot@ role=x\n')
    await expect(readInventory(join(dir, 'bad'))).rejects.toThrow(/bad:2: "root@" is not USER@HOST/)
    await writeFile(join(dir, 'empty'), '# nothing\n')
    await expect(readInventory(join(dir, 'empty'))).rejects.toThrow(/names no hosts/)
    expect(forHost('/srv/{host}/agent', parseSshTarget('10.0.0.9'))).toBe('/srv/10.0.0.9/agent')
  })

  it('leaves out a join address that is the host itself, and knows where a host answers', () => {
    const bastion = parseSshTarget('root@bastion.example.com')
    expect(joinsFor(['tcp://bastion.example.com:4001'], bastion, 'tcp://0.0.0.0:4001')).toEqual([])
    expect(joinsFor(['tcp://BASTION.example.com:4001/'], bastion, 'tcp://0.0.0.0:4001')).toEqual([])
    // its own listen address (not 0.0.0.0) is itself too; another port or host is not
    const h = parseSshTarget('root@10.0.0.1')
    expect(joinsFor(['tcp://10.0.0.1:4001'], h, 'tcp://10.0.0.1:4001')).toEqual([])
    expect(joinsFor(['/ip4/10.0.0.1/tcp/4001'], h, 'tcp://0.0.0.0:4001')).toEqual([])
    expect(joinsFor(['tcp://10.0.0.1:4002', 'tcp://10.0.0.2:4001'], h, 'tcp://0.0.0.0:4001')).toEqual([
      'tcp://10.0.0.1:4002',
      'tcp://10.0.0.2:4001',
    ])
    // a port chosen at start cannot be recognised: kept
    expect(joinsFor(['tcp://10.0.0.1:4001'], h, 'tcp://0.0.0.0:0')).toEqual(['tcp://10.0.0.1:4001'])
    expect(ownAddress('tcp://0.0.0.0:4001', bastion)).toBe('/dns/bastion.example.com/tcp/4001')
    expect(ownAddress('tcp://0.0.0.0:4001', h)).toBe('/ip4/10.0.0.1/tcp/4001')
    expect(ownAddress('tcp://0.0.0.0:0', h)).toBeUndefined()
  })

  it('quotes every value it puts into the remote script and refuses newlines in agent arguments', () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`)
    const base = {
      prefix: "/opt/o'a",
      sha256: 'ab',
      name: 'ops-agent-1-linux-x64',
      upload: '/tmp/x',
      service: detachedSupervisor,
    }
    expect(installScript({ ...base, args: ['--tag', 'a=$(reboot)'] })).toContain("PREFIX='/opt/o'\\''a'")
    expect(() => installScript({ ...base, args: ['--tag', 'a=1\nreboot'] })).toThrow(/newline/)
  })

  it('the CLI names what is missing as a usage error (exit 2)', async () => {
    const sink = { stdout: () => {}, stderr: () => {}, isTTY: false }
    await expect(main(['deploy', '--join', 'tcp://127.0.0.1:1', '--trust', 'x'], sink)).rejects.toThrow(
      /needs --ssh USER@HOST or --inventory FILE/,
    )
    // --join is optional (the first host of an overlay joins nothing): what is missing next is named instead
    await expect(main(['deploy', '--ssh', 'root@h', '--trust', 'x'], sink)).rejects.toThrow(/--trust/)
    await expect(
      main(['deploy', '--ssh', 'root@h', '--join', 'tcp://127.0.0.1:1', '--trust', 'nope'], sink),
    ).rejects.toThrow(/--trust/)
    await expect(main(['deploy', '--ssh', 'root@h'], sink)).rejects.toBeInstanceOf(UsageError)
  })
})
