/**
 * @packageDocumentation
 *
 * A pnet transport written outside `@pnet/network`, with its public API only: connections over unix domain
 * sockets (`/unix/<percent-encoded path>`). The socket is a plain byte pipe; `nodeStreamToRaw` wraps it and
 * `components.upgrader` runs multistream-select, Noise and yamux over it; `components.gate` admits connections
 * against the network's limits. It passes the conformance suite of `@pnet/network/testing` (see test/).
 *
 * @example
 * ```ts
 * import { createNetwork, generateKey } from '@pnet/network'
 * import { unix } from '@pnet/example-custom-transport'
 *
 * const server = createNetwork({ privateKey: await generateKey(), transports: [unix()] })
 * server.handle(stream => { void stream.sink(stream.source) })
 * const [addr] = await server.listen(unixAddress('/tmp/pnet.sock'))   // /unix/%2Ftmp%2Fpnet.sock/p2p/12D3Koo…
 * const client = createNetwork({ privateKey: await generateKey(), transports: [unix()] })
 * const conn = await client.dial(addr!)
 * ```
 */
import { once } from 'node:events'
import { unlink } from 'node:fs/promises'
import net from 'node:net'
import {
  AbortError,
  type AdmissionTicket,
  type Connection,
  DialError,
  type DialOptions,
  ListenError,
  type Listener,
  type ListenOptions,
  type Multiaddr,
  nodeStreamToRaw,
  type Transport,
  type TransportComponents,
  type TransportFactory,
} from '@pnet/network'

/**
 * The address of a unix socket path.
 *
 * @example
 * ```ts
 * unixAddress('/run/pnet.sock')   // '/unix/%2Frun%2Fpnet.sock'
 * ```
 */
export function unixAddress(path: string): string {
  return `/unix/${encodeURIComponent(path)}`
}

/** The socket path of a `/unix/…` address, or undefined for any other address. */
function socketPath(addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  return parts.length === 1 && parts[0]?.name === 'unix' ? parts[0].value : undefined
}

/**
 * The unix domain socket transport.
 *
 * @example
 * ```ts
 * createNetwork({ privateKey, transports: [unix(), tcp()] })
 * ```
 */
export function unix(): TransportFactory {
  return components => new UnixTransport(components)
}

class UnixTransport implements Transport {
  readonly name = 'unix'
  constructor(private readonly components: TransportComponents) {}

  // 1. say which addresses are ours
  handles(addr: Multiaddr): boolean {
    return socketPath(addr) !== undefined
  }

  // 2. dial: open the byte pipe, take an admission ticket, let the upgrader secure and multiplex it
  async dial(addr: Multiaddr, options: DialOptions): Promise<Connection> {
    const path = socketPath(addr) ?? ''
    options.signal?.throwIfAborted()
    const ticket = this.components.gate.admit('outbound', addr)
    const socket = net.connect(path)
    const abort = (): void => {
      socket.destroy(new AbortError(`dial ${addr.toString()}`))
    }
    options.signal?.addEventListener('abort', abort, { once: true })
    try {
      await once(socket, 'connect')
    } catch (err) {
      ticket.release()
      if (options.signal?.aborted === true) throw new AbortError(`dial ${addr.toString()}`)
      throw new DialError(addr.toString(), (err as Error).message, { cause: err })
    } finally {
      options.signal?.removeEventListener('abort', abort)
    }
    // the upgrader checks options.remotePeer, honours options.signal and releases the ticket on failure
    return this.components.upgrader.upgradeOutbound(nodeStreamToRaw(socket, addr), {
      ...options,
      transport: this.name,
      ticket,
    })
  }

  // 3. listen: admit each accepted socket, upgrade it, hand the connection to the network
  async listen(addr: Multiaddr, options: ListenOptions): Promise<Listener> {
    const path = socketPath(addr) ?? ''
    const { gate, upgrader, logger } = this.components
    const shutdown = new AbortController()
    const accepted = new Set<Connection>()
    const server = net.createServer(socket => {
      let ticket: AdmissionTicket
      try {
        ticket = gate.admit('inbound', addr)
      } catch (err) {
        options.onConnectionError?.(err as Error, addr)
        socket.destroy()
        return
      }
      upgrader
        .upgradeInbound(nodeStreamToRaw(socket, addr), {
          transport: this.name,
          ticket,
          signal: shutdown.signal,
          onStream: options.onStream,
          onClose: (conn, err) => {
            accepted.delete(conn)
            options.onClose?.(conn, err)
          },
        })
        .then(
          conn => {
            accepted.add(conn)
            options.onConnection(conn)
          },
          (err: Error) => {
            logger.info({ path, reason: err.message }, 'inbound unix connection failed')
            options.onConnectionError?.(err, addr)
          },
        )
    })
    await removeStaleSocket(path)
    try {
      server.listen(path)
      await once(server, 'listening')
    } catch (err) {
      throw new ListenError(addr.toString(), (err as Error).message, { cause: err })
    }
    return {
      addrs: [addr],
      async close() {
        shutdown.abort()
        await Promise.all([...accepted].map(c => c.close().catch(() => c.abort(new Error('listener closed')))))
        await new Promise(resolve => server.close(resolve)) // Node removes the socket file
      },
    }
  }
}

/** A socket file nobody listens on (left by a crashed process) is removed; a live one is left to fail the listen. */
async function removeStaleSocket(path: string): Promise<void> {
  const probe = net.connect(path)
  const live = await once(probe, 'connect').then(
    () => true,
    () => false,
  )
  probe.destroy()
  if (!live) await unlink(path).catch(() => {})
}
