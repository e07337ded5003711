/** ops-agent helpers shared by the scenarios that run a fleet inside the lab. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Lab } from '../src/index.js'
import { OPS_AGENT_CLI } from '../src/runners.js'

export interface HostRecord {
  peer: string
  host: string
  status: string
  exitCode: number | null
  stdout: string
  reason?: string
}

export interface Summary {
  targeted: number
  ok: number
  failed: number
  timeout: number
  unreachable: number
  refused: number
  cancelled: number
}

export interface ExecOutput {
  code: number
  hosts: HostRecord[]
  summary: Summary
  job: string
  stderr: string
}

/** A controller key (made outside the lab: no network needed) and its peer ID. */
export function controllerKey(dir: string, name = 'controller'): { key: string; peer: string } {
  const key = join(dir, `${name}.key`)
  const peer = execFileSync(process.execPath, [OPS_AGENT_CLI, 'keygen', '--key', key], { encoding: 'utf8' }).trim()
  return { key, peer }
}

/** `ops-agent exec … --json` run from lab host `h`, parsed. */
export async function opsExec(lab: Lab, h: number, args: string[], timeoutMs = 120_000): Promise<ExecOutput> {
  const r = await lab.exec(h, [process.execPath, OPS_AGENT_CLI, 'exec', '--json', ...args], { timeoutMs })
  const hosts: HostRecord[] = []
  let summary: Summary | undefined
  let job = ''
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const o = JSON.parse(line) as { summary?: Summary; job?: string } & HostRecord
    if (o.summary !== undefined) {
      summary = o.summary
      job = o.job ?? ''
    } else hosts.push(o)
  }
  if (summary === undefined) throw new Error(`ops-agent exec printed no summary (exit ${r.code}): ${r.stderr}`)
  return { code: r.code, hosts, summary, job, stderr: r.stderr }
}

/** `ops-agent nodes --json` from lab host `h`: the agents the controller can see. */
export async function opsNodes(lab: Lab, h: number, key: string, via: string): Promise<{ host: string | null }[]> {
  const r = await lab.exec(h, [process.execPath, OPS_AGENT_CLI, 'nodes', '--json', '--key', key, '--via', via], {
    timeoutMs: 60_000,
  })
  if (r.code !== 0) return []
  return JSON.parse(r.stdout) as { host: string | null }[]
}

export interface AuditLine {
  job: string
  decision: string
  reason?: string
}

export function auditLog(dataDir: string): AuditLine[] {
  try {
    return readFileSync(join(dataDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter(l => l !== '')
      .map(l => JSON.parse(l) as AuditLine)
  } catch {
    return []
  }
}
