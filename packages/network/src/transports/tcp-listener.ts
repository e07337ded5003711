/**
 * The TCP listener: a plain `net.Server` whose sockets go straight to the upgrader as RawIO.
 *
 * @libp2p/tcp's listener first wraps every socket in a MultiaddrConnection (an event target with its own listeners,
 * queues and a parsed address) that our upgrader then takes the socket back from. Under a connection flood that
 * wrapper was 40% of everything the node allocated, nearly all of it for sockets that closed before saying a word,
 * and the garbage showed up as long GC pauses for every other connection. Dialing still goes through @libp2p/tcp.
 *
 * What it keeps from the library: the address handling (`getNetConfig`, thin-waist expansion of 0.0.0.0 and ::),
 * keepalive and no-delay on accepted sockets, a socket inactivity timeout as the dead-peer safety net, and close()
 * stopping handshakes in progress and destroying the sockets it accepted.
 */
import net, { type Socket } from 'node:net'
import { getNetConfig, getThinWaistAddresses, ipPortToMultiaddr } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { HandshakeError, HandshakeTimeoutError, ListenError, messageOf, withoutStack } from '../errors.js'
import type { ConnectionGate, Listener, ListenOptions } from '../interface.js'
import { type Logger, logThrottled } from '../logger.js'
import { socketToIO } from '../raw-io.js'
import type { StackUpgrader } from '../upgrader.js'

export interface TcpListenerInit {
  /** the address to listen on (ip4 or ip6, a port or 0) */
  addr: Multiaddr
  backlog?: number
  noDelay: boolean
  /** ms without traffic after which an accepted socket is destroyed (a dead peer) */
  inactivityTimeoutMs: number
  /** limits.handshakeTimeoutMs: from accept to the end of the handshake, the wait for the first byte included */
  handshakeTimeoutMs: number
  upgrader: StackUpgrader
  gate: ConnectionGate
  logger: Logger
  /** the transport name connections report */
  transport: string
}

/**
 * Listens on `init.addr`; resolves once bound.
 *
 * @example
 * ```ts
 * const listener = await listenTcp({ addr, noDelay: true, inactivityTimeoutMs: 600_000, upgrader, gate, logger,
 *   transport: 'tcp' }, { onConnection: conn => console.log(conn.remotePeer) })
 * ```
 */
export async function listenTcp(init: TcpListenerInit, options: ListenOptions): Promise<Listener> {
  const config = getNetConfig(init.addr)
  const sockets = new Set<Socket>()
  // handshakes in progress stop when the listener closes
  const shutdown = new AbortController()
  const { gate, logger, upgrader } = init
  const handshakeTimeoutMs = init.handshakeTimeoutMs

  const onSocket = (socket: Socket): void => {
    socket.on('error', noop) // the RawIO reports errors once it exists; before that (and after) nothing to do
    const ip = socket.remoteAddress
    const port = socket.remotePort
    if (ip === undefined || port === undefined) {
      socket.destroy() // gone before we got to it
      return
    }
    if (gate.admits?.('inbound') === false) {
      // full (a flood, or pending handshakes at the limit): refused before anything is built for it
      refuseFast(socket)
      return
    }
    // the address is built when something needs it: most sockets of a flood never get that far
    let addr: Multiaddr | undefined
    const remoteAddr = (): Multiaddr => {
      addr ??= ipPortToMultiaddr(ip, port)
      return addr
    }
    let ticket: ReturnType<ConnectionGate['admit']>
    try {
      ticket = gate.admit('inbound', remoteAddr)
    } catch (err) {
      logThrottled(
        logger,
        'warn',
        () => ({ remote: remoteAddr().toString(), reason: messageOf(err) }),
        'inbound connection refused',
      )
      options.onConnectionError?.(err as Error, remoteAddr())
      reset(socket)
      return
    }
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.setKeepAlive(true)
    socket.setTimeout(init.inactivityTimeoutMs)
    socket.once('timeout', () => {
      socket.destroy(new Error(`no traffic for ${init.inactivityTimeoutMs} ms: the peer is presumed dead`))
    })
    // The dialer speaks first. Until it does, the socket costs these listeners and a timer; the handshake machinery
    // (and its deadline, counted from now) starts with the first byte. A socket that closes first is just released.
    const startedAt = Date.now()
    const failed = (reason: () => Error): void => {
      clearTimeout(timer)
      socket.off('data', first)
      ticket.release()
      reset(socket)
      logThrottled(
        logger,
        'info',
        () => ({ remote: remoteAddr().toString(), reason: reason().message }),
        'inbound connection failed',
      )
      if (options.onConnectionError !== undefined) options.onConnectionError(reason(), remoteAddr())
    }
    const gone = (): void => {
      socket.off('end', gone).off('close', gone)
      failed(() => withoutStack(() => new HandshakeError(remoteAddr().toString(), 'closed before the handshake began')))
    }
    const timer = setTimeout(() => {
      socket.off('end', gone).off('close', gone)
      failed(() => new HandshakeTimeoutError(remoteAddr().toString(), handshakeTimeoutMs))
    }, handshakeTimeoutMs)
    timer.unref()
    const first = (chunk: Buffer): void => {
      clearTimeout(timer)
      socket.off('end', gone).off('close', gone)
      socket.pause() // until the RawIO listens: nothing may be emitted to nobody
      upgrade(socket, remoteAddr(), chunk, ticket, startedAt)
      socket.resume()
    }
    socket.once('data', first)
    socket.once('end', gone)
    socket.once('close', gone)
  }

  const upgrade = (
    socket: Socket,
    remoteAddr: Multiaddr,
    chunk: Buffer,
    ticket: ReturnType<ConnectionGate['admit']>,
    startedAt: number,
  ): void => {
    upgrader
      .upgradeIO(socketToIO(socket, remoteAddr, chunk), 'inbound', {
        signal: shutdown.signal,
        transport: init.transport,
        ticket,
        startedAt,
        onStream: options.onStream,
        onClose: options.onClose,
      })
      .then(
        connection => options.onConnection(connection),
        (err: Error) => {
          // the upgrader destroyed the socket and released the ticket
          logThrottled(
            logger,
            'info',
            () => ({ remote: remoteAddr.toString(), reason: err.message }),
            'inbound connection failed',
          )
          options.onConnectionError?.(err, remoteAddr)
        },
      )
  }

  /** Refuses a socket while the gate is full; the error (and the address) is only built if someone will see it. */
  const refuseFast = (socket: Socket): void => {
    const ip = socket.remoteAddress as string
    const port = socket.remotePort as number
    reset(socket)
    let err: Error | undefined
    const why = (): Error => {
      err ??= refusal(gate, ipPortToMultiaddr(ip, port))
      return err
    }
    logThrottled(
      logger,
      'warn',
      () => ({ remote: ipPortToMultiaddr(ip, port).toString(), reason: why().message }),
      'inbound connection refused',
    )
    if (options.onConnectionError !== undefined) options.onConnectionError(why(), ipPortToMultiaddr(ip, port))
  }

  const server = net.createServer({ noDelay: init.noDelay, keepAlive: true, allowHalfOpen: false }, onSocket)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(
        { host: config.host, port: config.port, ipv6Only: config.type === 'ip6', backlog: init.backlog },
        () => {
          server.off('error', reject)
          resolve()
        },
      )
    })
  } catch (err) {
    throw new ListenError(init.addr.toString(), messageOf(err), { cause: err })
  }
  // accept errors (EMFILE…) after the start: the server keeps listening
  server.on('error', err => logThrottled(logger, 'warn', { err: messageOf(err) }, 'tcp listener error'))

  let closing: Promise<void> | undefined
  return {
    get addrs(): Multiaddr[] {
      const bound = server.address()
      if (bound === null || typeof bound === 'string') return []
      return getThinWaistAddresses(init.addr, bound.port)
    },
    close(): Promise<void> {
      closing ??= new Promise<void>(resolve => {
        shutdown.abort(new Error('listener closed'))
        // 'close' comes once the server stopped listening and every socket it accepted is gone
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return closing
    },
  }
}

const noop = (): void => {}

/** The gate's own error for refusing `remoteAddr` now (it is full). */
function refusal(gate: ConnectionGate, remoteAddr: Multiaddr): Error {
  try {
    gate.admit('inbound', remoteAddr).release()
  } catch (err) {
    return err as Error
  }
  return new Error(`connection from ${remoteAddr.toString()} refused: no room (the gate was full a moment ago)`)
}

/** Drops a socket with a TCP reset, so the remote knows at once (a unix socket cannot: it just closes). */
function reset(socket: Socket): void {
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}
