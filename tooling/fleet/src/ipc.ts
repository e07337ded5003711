/** Messages between the fleet (parent) and a worker process hosting several agents (Node IPC, JSON). */

/** What a worker needs to start one agent. */
export interface AgentSpec {
  index: number
  dataDir: string
  listen: string[]
  join: string[]
  tags: Record<string, string>
  trust: string[]
  keepalive?: { intervalMs?: number; timeoutMs?: number }
  logLevel: string
}

export type Request =
  | { id: number; op: 'start'; spec: AgentSpec }
  /** `abrupt`: connections reset without a goodbye, as neighbours see a crashed process */
  | { id: number; op: 'stop'; index: number; abrupt: boolean }
  | { id: number; op: 'stats' }
  /** V8 CPU profiler of the worker process: start, then stop writing the profile to `file` */
  | { id: number; op: 'profile-start' }
  | { id: number; op: 'profile-stop'; file: string }
  | { id: number; op: 'shutdown' }

export interface Started {
  peer: string
  addrs: string[]
}

export interface WorkerStats {
  pid: number
  agents: number
  rss: number
  heapUsed: number
  /** user + system CPU time of the worker so far, µs */
  cpuMicros: number
}

export type Reply =
  | { id: number; ok: true; result?: Started | WorkerStats }
  | { id: number; ok: false; error: string }
  | { ready: true }

/** A request before the worker handle numbers it. */
export type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never
