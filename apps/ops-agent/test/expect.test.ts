/**
 * A controller that knows which agents belong (the demo, which started them) never reports a short count: an agent
 * it cannot route to is waited for within the join bound, then counted unreachable and named with the reason.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, peerIdFromKey, tcp } from '@pnet/network'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Agent, startAgent } from '../src/agent/agent.js'
import { execute } from '../src/controller/exec.js'
import { joinFleet, waitForRoutes } from '../src/controller/fleet.js'
import { summaryLine } from '../src/controller/output.js'
import { parseSelectors } from '../src/controller/selector.js'

describe('a run that expects agents the controller cannot route to', { timeout: 60_000 }, () => {
  let dir: string
  const agents: Agent[] = []
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ops-expect-'))
  })
  afterAll(async () => {
    await Promise.all(agents.map(a => a.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  it('waits for the routes it expects, then names the missing agent on the summary line', async () => {
    const ctlKey = await generateKey()
    const trust = [peerIdFromKey(ctlKey).toString()]
    for (let i = 0; i < 3; i++) {
      agents.push(
        await startAgent({
          dataDir: join(dir, `a${i}`),
          listen: ['tcp://127.0.0.1:0'],
          join: i === 0 ? [] : [agents[i - 1]!.node.addrs[0]!.toString()],
          tags: { hostname: `a${i}` },
          trust,
          transports: [tcp()],
        }),
      )
    }
    // a line of three: the far end becomes routable from the root only after two route updates
    expect(await waitForRoutes(agents[0]!.node, [agents[2]!.node.id], { timeoutMs: 10_000 })).toEqual([])
    const ghost = peerIdFromKey(await generateKey())
    const fleet = await joinFleet({
      key: ctlKey,
      via: agents[0]!.node.addrs[0]!.toString(),
      transports: [tcp()],
      expect: [...agents.map(a => a.node.id), ghost],
      joinTimeoutMs: 1_500,
    })
    try {
      expect(fleet.missing().map(String)).toEqual([ghost.toString()])
      const names = new Map(agents.map((a, i) => [a.node.id.toString(), `a${i}`]))
      names.set(ghost.toString(), 'ghost-1')
      const run = await execute({
        key: ctlKey,
        fleet,
        selectors: parseSelectors(['*']),
        command: { argv: ['true'] },
        expect: names,
      })
      expect(run.summary).toMatchObject({ targeted: 4, ok: 3, unreachable: 1 })
      const line = summaryLine(run.summary, run.results, 10)
      expect(line).toMatch(/^4 hosts: 3 ok, 1 unreachable/)
      expect(line).toMatch(/unreachable: ghost-1 \(not routed: /)
    } finally {
      await fleet.close()
    }
  })
})
