/**
 * Scenario 2: `ops-agent exec` across a 3-level tree of 12 agent hosts, the controller on a 13th host attached to
 * the root only. Two agents are killed with SIGKILL while the command runs.
 */
import { describe, expect, it } from 'vitest'
import { recordFigures, startAgent, topologyEdges } from '../src/index.js'
import { commandFor, labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'
import { auditLog, controllerKey, opsExec, opsNodes } from './ops.js'

const fx = labFixture()
const AGENTS = 12
const CONTROLLER = AGENTS
const KILLED = [5, 10]

describe.skipIf(!ROOT)(`scenario 2: ops exec across a 12-host tree${NEEDS_ROOT}`, () => {
  it('two agents SIGKILLed mid-command: reported, counts add up, every survivor ran the job exactly once', async () => {
    const tree = topologyEdges({ kind: 'tree', hosts: AGENTS, branching: 3 })
    const lab = fx.lab({ hosts: AGENTS + 1, edges: [...tree, [0, CONTROLLER]] })
    const dir = fx.dir()
    const ctl = controllerKey(dir)
    const agents: Awaited<ReturnType<typeof startAgent>>[] = []
    // level by level, each agent joining its parent over their shared link
    const levels = [[0], [1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11]]
    for (const level of levels) {
      const started = await Promise.all(
        level.map(h => {
          const parent = h === 0 ? undefined : Math.floor((h - 1) / 3)
          return startAgent(lab, h, {
            dir,
            trust: [ctl.peer],
            join: parent === undefined ? [] : [lab.tcp(parent, h)],
          })
        }),
      )
      for (const a of started) agents[a.host] = a
    }
    const via = lab.tcp(0, CONTROLLER)
    const t0 = Date.now()
    while ((await opsNodes(lab, CONTROLLER, ctl.key, via)).filter(n => n.host !== null).length < AGENTS) {
      if (Date.now() - t0 > 60_000) throw new Error('the controller never saw all 12 agents')
      await sleep(500)
    }
    const convergeMs = Date.now() - t0

    const started = Date.now()
    const run = opsExec(lab, CONTROLLER, [
      '--key',
      ctl.key,
      '--via',
      via,
      '--target',
      '*',
      '--timeout',
      '30s',
      '--',
      'sh',
      '-c',
      'sleep 4; echo done',
    ])
    // kill once both victims have accepted the job (their audit logs say so)
    while (!KILLED.every(h => auditLog(agents[h]!.dataDir).some(l => l.decision === 'accepted'))) {
      if (Date.now() - started > 30_000) throw new Error('the job never reached the agents to be killed')
      await sleep(50)
    }
    for (const h of KILLED) agents[h]!.proc.kill('SIGKILL')
    const out = await run
    const elapsedMs = Date.now() - started

    const s = out.summary
    expect(s.targeted).toBe(AGENTS)
    expect(s.ok + s.failed + s.timeout + s.unreachable + s.refused + s.cancelled).toBe(s.targeted)
    expect(s.ok).toBe(AGENTS - KILLED.length)
    expect(out.hosts).toHaveLength(AGENTS)
    const byPeer = new Map(out.hosts.map(h => [h.peer, h]))
    for (const h of KILLED) {
      const rec = byPeer.get(agents[h]!.id)!
      expect(rec.status).not.toBe('ok')
    }
    for (let h = 0; h < AGENTS; h++) {
      if (KILLED.includes(h)) continue
      const rec = byPeer.get(agents[h]!.id)!
      expect(rec.status).toBe('ok')
      expect(rec.stdout.trim()).toBe('done')
      const lines = auditLog(agents[h]!.dataDir).filter(l => l.job === out.job)
      expect(lines.filter(l => l.decision === 'accepted')).toHaveLength(1)
      expect(lines.filter(l => l.decision === 'finished')).toHaveLength(1)
    }
    expect(out.code).toBe(1)
    recordFigures('ops-tree', commandFor('ops-tree.test.ts'), {
      agents: AGENTS,
      levels: 3,
      killed: KILLED.length,
      convergeMs,
      execMs: elapsedMs,
      summary: s,
      killedStatus: KILLED.map(h => byPeer.get(agents[h]!.id)!.status),
      survivorsExecutedOnce: AGENTS - KILLED.length,
      jobsLost: 0,
    })
  })
})
