/**
 * The audit log: one JSON line per request an agent receives, accepted or refused, in DIR/audit.log.
 */
import { appendFile } from 'node:fs/promises'

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
  #chain: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  /** Appends one line; lines are written in call order. */
  write(entry: Omit<AuditEntry, 'time'>): Promise<void> {
    const line = `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`
    this.#chain = this.#chain.then(() => appendFile(this.path, line, { mode: 0o600 })).catch(() => {})
    return this.#chain
  }
}
