/**
 * The control socket protocol between `pnet` commands and a running daemon: JSON lines over a unix socket.
 *
 *   request:  {"id":1,"cmd":"routes","args":{}}
 *   events:   {"id":1,"event":"ping","data":{...}}        (zero or more, for streaming commands)
 *   reply:    {"id":1,"ok":true,"result":...}  or  {"id":1,"ok":false,"error":{"code":"...","message":"..."}}
 */
export const CONTROL_COMMANDS = ['info', 'peers', 'routes', 'ping', 'connect', 'disconnect', 'metrics'] as const
export type ControlCommand = (typeof CONTROL_COMMANDS)[number]

/** Longest request line accepted; a client sending more is disconnected. */
export const MAX_CONTROL_LINE = 64 * 1024

export interface ControlRequest {
  id: number
  cmd: ControlCommand
  args?: Record<string, unknown>
}

export interface ControlError {
  /** `USAGE` for a bad request, `FAILED` when the operation failed, or the error's own code */
  code: string
  message: string
}

export type ControlMessage =
  | { id: number; event: string; data: unknown }
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ControlError }

export interface PeerRow {
  peer: string
  addr: string
  transport: string
  rttMs: number | null
  direction: 'inbound' | 'outbound'
  since: number
}

export interface RouteRow {
  peer: string
  nextHop: string
  hops: number
  metric: number
  ageMs: number
}

export interface InfoResult {
  id: string
  addrs: string[]
  peers: number
  routes: number
  reachable: number
  connections: number
  uptimeMs: number
}
