/**
 * The audit log: one JSON line per request an agent receives, accepted or refused, in DIR/audit.log.
 *
 * Each line is appended synchronously (open, write, close: logrotate may move the file at any time): it is written
 * before the request is acted on, and a line of a few hundred bytes costs microseconds, where the promise API costs a
 * thread-pool round trip per step.
 */
import { appendFileSync } from 'node:fs'

export interface AuditEntry {
  /** ISO time */
  time: string
  job: string
  kind: string
  /** the controller's peer ID, as claimed (checked when `decision` is accepted) */
  controller: string
  decision: 'accepted' | 'refused' | 'duplicate' | 'finished'
  reason?: string
  argv?: string[]
  runAs?: string
  /** destination of a push */
  path?: string
  exitCode?: number | null
  signal?: string | null
  status?: string
  durationMs?: number
}

export class AuditLog {
  constructor(readonly path: string) {}

  /** Appends one line; lines are written in call order. A failing disk does not stop the agent (the line is lost). */
  write(entry: Omit<AuditEntry, 'time'>): Promise<void> {
    const line = `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`
    try {
      appendFileSync(this.path, line, { mode: 0o600 })
    } catch {
      // the agent keeps serving; the disk's trouble shows elsewhere
    }
    return Promise.resolve()
  }
}
