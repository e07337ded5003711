/**
 * Scenario 3: an agent restarted while an `--async` job runs on it. The job must not run twice, and
 * `ops-agent job ID --wait` must report its result.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type Lab, recordFigures, startAgent } from '../src/index.js'
import { OPS_AGENT_CLI } from '../src/runners.js'
import { commandFor, labFixture, NEEDS_ROOT, ROOT, sleep } from './helpers.js'
import { auditLog, controllerKey, type HostRecord, type Summary } from './ops.js'

const fx = labFixture()
const figures: Record<string, unknown> = {}

async function ops(lab: Lab, h: number, args: string[]): Promise<{ code: number; lines: unknown[]; stderr: string }> {
  const r = await lab.exec(h, [process.execPath, OPS_AGENT_CLI, ...args], { timeoutMs: 120_000 })
  const lines = r.stdout
    .split('\n')
    .filter(l => l.startsWith('{'))
    .map(l => JSON.parse(l) as unknown)
  return { code: r.code, lines, stderr: r.stderr }
}

describe.skipIf(!ROOT)(`scenario 3: agent restarted during an async job${NEEDS_ROOT}`, () => {
  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    it(`restart by ${how}: the job runs once and its result is reported`, async () => {
      // controller (2) — agent 0 — agent 1 (the one restarted)
      const lab = fx.lab({
        hosts: 3,
        edges: [
          [0, 1],
          [0, 2],
        ],
      })
      const dir = join(fx.dir(), how)
      const ctl = controllerKey(fx.dir(), `ctl-${how}`)
      const db = join(dir, 'jobs.db')
      const marker = join(dir, 'ran')
      await startAgent(lab, 0, { dir, trust: [ctl.peer] })
      let target = await startAgent(lab, 1, { dir, trust: [ctl.peer], join: [lab.tcp(0, 1)] })
      const via = lab.tcp(0, 2)
      await sleep(1_000)
      const started = await ops(lab, 2, [
        'exec',
        '--async',
        '--json',
        '--db',
        db,
        '--key',
        ctl.key,
        '--via',
        via,
        '--target',
        `id=${target.id}`,
        '--',
        'sh',
        '-c',
        `echo started >> ${marker}; sleep 3; echo finished >> ${marker}; echo done`,
      ])
      expect(started.code, started.stderr).toBe(0)
      const head = started.lines.at(-1) as { job: string; accepted: string[] }
      expect(head.accepted).toEqual([target.id])
      const jobId = head.job

      // restart the agent while its command runs (same data dir, same key)
      await sleep(1_000)
      target.proc.kill(how)
      await target.proc.exited
      target = await startAgent(lab, 1, { dir, trust: [ctl.peer], join: [lab.tcp(0, 1)] })
      const restartedAt = Date.now()
      await sleep(4_000) // the command would have finished by now if it had been left running

      const result = await ops(lab, 2, [
        'job',
        jobId,
        '--wait',
        '--json',
        '--timeout',
        '60s',
        '--db',
        db,
        '--key',
        ctl.key,
      ])
      const hosts = result.lines.filter(l => (l as { peer?: string }).peer !== undefined) as HostRecord[]
      const summary = (result.lines.at(-1) as { summary: Summary }).summary
      expect(summary.targeted).toBe(1)
      expect(hosts).toHaveLength(1)
      expect(hosts[0]!.peer).toBe(target.id)
      expect(['ok', 'failed', 'cancelled', 'timeout']).toContain(hosts[0]!.status)
      // at most once: one start, and the audit log (kept across the restart) accepted it once
      const ran = readFileSync(marker, 'utf8')
        .split('\n')
        .filter(l => l === 'started')
      expect(ran).toHaveLength(1)
      const audit = auditLog(target.dataDir).filter(l => l.job === jobId)
      expect(audit.filter(l => l.decision === 'accepted')).toHaveLength(1)
      figures[how] = {
        status: hosts[0]!.status,
        reason: hosts[0]!.reason ?? null,
        stdout: hosts[0]!.stdout.trim(),
        executions: ran.length,
        // after a crash the orphaned command may still finish; it is reported failed, never run again
        commandFinishedAnyway: readFileSync(marker, 'utf8').includes('finished'),
        audit: audit.map(l => l.decision),
        reportedAfterRestartMs: Date.now() - restartedAt,
      }
      recordFigures('async-restart', commandFor('async-restart.test.ts'), figures)
    })
  }
})
