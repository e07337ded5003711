/**
 * The daemon side of the control socket. Only the owner can connect (the socket is created with mode 0600).
 */
import { chmod, rm } from 'node:fs/promises'
import net from 'node:net'
import { type Logger, parsePeerId } from '@pnet/network'
import type { Node } from '../node.js'
import {
  CONTROL_COMMANDS,
  type ControlCommand,
  type ControlMessage,
  type ControlRequest,
  type InfoResult,
  MAX_CONTROL_LINE,
  type PeerRow,
  type RouteRow,
} from './protocol.js'

class UsageError extends Error {
  readonly code = 'USAGE'
}

/**
 * Serves `node` on a unix socket at `path` (a stale socket file from a dead daemon is replaced).
 *
 * @example
 * ```ts
 * const control = await serveControl(node, '/var/lib/pnet/pnet.sock', logger)
 * // …
 * await control.close()
 * ```
 */
export async function serveControl(node: Node, path: string, logger: Logger): Promise<{ close(): Promise<void> }> {
  const started = Date.now()
  if (await isLive(path)) throw new Error(`control socket ${path} is in use by another daemon`)
  await rm(path, { force: true })
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffer = ''
    socket.on('data', chunk => {
      buffer += chunk.toString('utf8')
      if (buffer.length > MAX_CONTROL_LINE && !buffer.includes('\n')) {
        socket.destroy()
        return
      }
      let nl = buffer.indexOf('\n')
      while (nl >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line.trim() !== '') void handleLine(line, socket)
        nl = buffer.indexOf('\n')
      }
    })
  })
  const send = (socket: net.Socket, msg: ControlMessage): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`)
  }

  async function handleLine(line: string, socket: net.Socket): Promise<void> {
    let req: ControlRequest
    try {
      req = JSON.parse(line) as ControlRequest
      if (typeof req.id !== 'number' || !CONTROL_COMMANDS.includes(req.cmd)) throw new Error('bad request')
    } catch {
      send(socket, {
        id: -1,
        ok: false,
        error: { code: 'USAGE', message: `not a control request: ${line.slice(0, 100)}` },
      })
      return
    }
    try {
      const result = await run(req.cmd, req.args ?? {}, (event, data) => send(socket, { id: req.id, event, data }))
      send(socket, { id: req.id, ok: true, result })
    } catch (err) {
      const e = err as Error & { code?: string }
      send(socket, { id: req.id, ok: false, error: { code: e.code ?? 'FAILED', message: e.message } })
    }
  }

  async function run(
    cmd: ControlCommand,
    args: Record<string, unknown>,
    event: (name: string, data: unknown) => void,
  ): Promise<unknown> {
    switch (cmd) {
      case 'info':
        return {
          id: node.id.toString(),
          addrs: node.addrs.map(String),
          peers: node.peers().length,
          routes: node.routes().length,
          reachable: node.reachable().length,
          connections: node.network.connections().length,
          uptimeMs: Date.now() - started,
        } satisfies InfoResult
      case 'peers':
        return node.peers().map(
          (p): PeerRow => ({
            peer: p.peer.toString(),
            addr: p.addr.toString(),
            transport: p.transport,
            rttMs: p.rttMs ?? null,
            direction: p.direction,
            since: p.since,
          }),
        )
      case 'routes':
        return node.routes().map(
          (r): RouteRow => ({
            peer: r.destination.toString(),
            nextHop: r.nextHop.toString(),
            hops: r.hops,
            metric: r.metric,
            ageMs: r.age,
          }),
        )
      case 'metrics':
        return node.metrics()
      case 'ping': {
        const peer = parsePeerId(stringArg(args, 'peer'))
        const count = typeof args.count === 'number' ? args.count : 1
        const replies = await node.ping(peer, { count, intervalMs: 1_000, onReply: r => event('ping', r) })
        return { peer: peer.toString(), replies }
      }
      case 'connect':
        return { peer: (await node.connect(stringArg(args, 'addr'))).toString() }
      case 'disconnect': {
        const peer = parsePeerId(stringArg(args, 'peer'))
        const had = node.network.connections(peer).length
        await node.disconnect(peer)
        return { peer: peer.toString(), closed: had }
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => resolve())
  })
  await chmod(path, 0o600)
  logger.info({ path }, 'control socket listening')
  return {
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
      await rm(path, { force: true })
    },
  }
}

function stringArg(args: Record<string, unknown>, name: string): string {
  const v = args[name]
  if (typeof v !== 'string' || v === '') throw new UsageError(`missing argument ${name}`)
  return v
}

/** True when a daemon answers on `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
