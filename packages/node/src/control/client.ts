/**
 * The command side of the control socket.
 */
import net from 'node:net'
import type { ControlCommand, ControlError, ControlMessage } from './protocol.js'

export class ControlRequestError extends Error {
  readonly code: string
  constructor(error: ControlError) {
    super(error.message)
    this.name = 'ControlRequestError'
    this.code = error.code
  }
}

export class DaemonUnreachableError extends Error {
  readonly code = 'ERR_DAEMON_UNREACHABLE'
  constructor(path: string, reason: string) {
    super(`no pnet daemon answers on ${path} (${reason}); start one with \`pnet daemon\` or pass --control PATH`)
    this.name = 'DaemonUnreachableError'
  }
}

/**
 * Sends one command to the daemon at `path`; streaming commands report events through `onEvent`.
 *
 * @example
 * ```ts
 * const routes = await controlRequest('/var/lib/pnet/pnet.sock', 'routes')
 * ```
 */
export function controlRequest(
  path: string,
  cmd: ControlCommand,
  args: Record<string, unknown> = {},
  onEvent?: (event: string, data: unknown) => void,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path)
    let buffer = ''
    let settled = false
    const done = (fn: () => void): void => {
      if (settled) return
      settled = true
      socket.destroy()
      fn()
    }
    socket.once('error', err => done(() => reject(new DaemonUnreachableError(path, err.message))))
    socket.once('connect', () => socket.write(`${JSON.stringify({ id: 1, cmd, args })}\n`))
    socket.on('data', chunk => {
      buffer += chunk.toString('utf8')
      let nl = buffer.indexOf('\n')
      while (nl >= 0) {
        const msg = JSON.parse(buffer.slice(0, nl)) as ControlMessage
        buffer = buffer.slice(nl + 1)
        if ('event' in msg) onEvent?.(msg.event, msg.data)
        else if (msg.ok) done(() => resolve(msg.result))
        else done(() => reject(new ControlRequestError(msg.error)))
        nl = buffer.indexOf('\n')
      }
    })
    socket.once('close', () =>
      done(() => reject(new DaemonUnreachableError(path, 'connection closed without a reply'))),
    )
  })
}
