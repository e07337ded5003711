/**
 * WebSocket transport: connections carried over an HTTP/1.1 Upgrade, so they pass HTTP reverse proxies (nginx,
 * haproxy) and can share a port with an HTTP API. The WebSocket carries the byte stream in binary messages; over it
 * run the same multistream-select → Noise → yamux as on TCP (what @libp2p/websockets peers speak).
 *
 * Addresses: `/ip4/…/tcp/PORT/ws`, `/…/tcp/PORT/tls/ws` (wss), optionally `/http-path/<path>`; or `ws://host:port/path`,
 * `wss://host:port/path`.
 *
 * @example
 * ```ts
 * const network = createNetwork({ privateKey, transports: [ws()] })
 * await network.listen('ws://0.0.0.0:8080/pnet')
 *
 * // share the port of an existing HTTP API: listeners attach to the server instead of binding
 * const api = http.createServer(app).listen(8080)
 * const node = createNetwork({ privateKey, transports: [ws({ server: api })] })
 * await node.listen('ws://0.0.0.0:8080/pnet')   // GET /health still reaches `app`
 * ```
 */
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import tls from 'node:tls'
import { getThinWaistAddresses, ipPortToMultiaddr } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import WebSocket, { createWebSocketStream, WebSocketServer } from 'ws'
import { nodeStreamToRaw } from '../duplex-connection.js'
import { AbortError, DialError, ListenError, messageOf } from '../errors.js'
import type {
  AdmissionTicket,
  Connection,
  DialOptions,
  Limits,
  Listener,
  ListenOptions,
  Transport,
  TransportComponents,
  TransportFactory,
} from '../interface.js'
import { deadPeerTimeoutMs, WS_MAX_MESSAGE_BYTES } from '../limits.js'
import { logThrottled } from '../logger.js'
import { parseWsAddr, requestPath, type WsTarget, wsSuffix, wsUrl } from './ws-address.js'

export interface WsInit {
  /** PEM certificate (chain) for `/tls/ws` listeners */
  cert?: string | Buffer
  /** PEM private key of `cert` */
  key?: string | Buffer
  /** CA certificates trusted when dialing `wss://` (default: Node's bundled roots) */
  ca?: string | Buffer | Array<string | Buffer>
  /**
   * An http or https server to attach listeners to instead of binding a port: the node shares it with an HTTP API.
   * It must be listening; the listen address names its port (or port 0) and the path to take.
   */
  server?: http.Server | https.Server
}

/**
 * The WebSocket transport.
 *
 * @example
 * ```ts
 * createNetwork({ privateKey, transports: [ws({ cert: readFileSync('cert.pem'), key: readFileSync('key.pem') })] })
 * ```
 */
export function ws(init: WsInit = {}): TransportFactory {
  return components => new WsTransport(components, init)
}

type UpgradeHandler = (req: http.IncomingMessage, socket: Socket, head: Buffer) => void

/**
 * The TCP socket under a WebSocket is destroyed after a long silence: a safety net for dead peers only, the idle
 * policy is the connection's (limits.idleTimeoutMs), so this never fires first. Set after the upgrade (ws resets it).
 */
function watchDeadPeer(socket: Socket, limits: Readonly<Limits>): void {
  socket.setTimeout(deadPeerTimeoutMs(limits), () => {
    socket.destroy(new Error('no traffic from the peer: presumed dead'))
  })
}

/** Paths taken on each server, so several listeners (and the app's own upgrade handlers) can share one. */
const routes = new WeakMap<http.Server, Map<string, UpgradeHandler>>()

function route(server: http.Server, path: string, handler: UpgradeHandler): () => void {
  let table = routes.get(server)
  if (table === undefined) {
    const created = new Map<string, UpgradeHandler>()
    table = created
    routes.set(server, created)
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const path = requestPath(req.url)
      const handle = path === undefined ? undefined : created.get(path)
      if (handle !== undefined) handle(req, socket, head)
      else if (server.listenerCount('upgrade') === 1) refuse(socket, 404, 'Not Found') // nobody else will answer
    })
  }
  if (table.has(path)) throw new Error(`path ${path} is already taken on this server`)
  table.set(path, handler)
  return () => table.delete(path)
}

function refuse(socket: Socket, status: number, reason: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  socket.destroySoon()
}

class WsTransport implements Transport {
  readonly name = 'ws'
  readonly #components: TransportComponents
  readonly #init: WsInit

  constructor(components: TransportComponents, init: WsInit) {
    this.#components = components
    this.#init = init
  }

  handles(addr: Multiaddr): boolean {
    return parseWsAddr(addr) !== undefined
  }

  async dial(addr: Multiaddr, options: DialOptions): Promise<Connection> {
    const shown = addr.toString()
    const target = parseWsAddr(addr)
    if (target === undefined) throw new DialError(shown, 'not a WebSocket address')
    if (options.signal?.aborted === true) throw new AbortError(`dial ${shown}`)
    const ticket = this.#components.gate.admit('outbound', addr)
    let socket: WebSocket
    try {
      socket = await this.#open(target, shown, options.signal)
    } catch (err) {
      ticket.release()
      throw err
    }
    return this.#components.upgrader.upgradeOutbound(nodeStreamToRaw(createWebSocketStream(socket), addr), {
      ...options,
      transport: this.name,
      ticket,
    })
  }

  #open(target: WsTarget, shown: string, signal: AbortSignal | undefined): Promise<WebSocket> {
    // `servername` goes through to tls.connect (SNI), which ws's own typings do not list
    const opts: WebSocket.ClientOptions & { servername?: string } = {
      perMessageDeflate: false, // Noise output does not compress
      maxPayload: WS_MAX_MESSAGE_BYTES,
      handshakeTimeout: this.#components.limits.handshakeTimeoutMs,
      ca: this.#init.ca,
      servername: target.servername,
    }
    const socket = new WebSocket(wsUrl(target), opts)
    return new Promise<WebSocket>((resolve, reject) => {
      const fail = (err: Error): void => {
        cleanup()
        socket.on('error', () => {}) // terminate() while connecting reports one more error
        socket.terminate()
        reject(err)
      }
      const onAbort = (): void => fail(new AbortError(`dial ${shown}`))
      const onError = (err: Error): void => fail(new DialError(shown, messageOf(err), { cause: err }))
      const onResponse = (_req: http.ClientRequest, res: http.IncomingMessage): void => {
        res.resume()
        fail(new DialError(shown, `HTTP ${res.statusCode} ${res.statusMessage ?? ''} instead of a WebSocket upgrade`))
      }
      let tcpSocket: Socket | undefined
      const onUpgrade = (res: http.IncomingMessage): void => {
        tcpSocket = res.socket
      }
      const onOpen = (): void => {
        cleanup()
        if (tcpSocket !== undefined) watchDeadPeer(tcpSocket, this.#components.limits)
        resolve(socket)
      }
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onAbort)
        socket.off('error', onError)
        socket.off('unexpected-response', onResponse)
        socket.off('open', onOpen)
        socket.off('upgrade', onUpgrade)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.on('error', onError)
      socket.on('unexpected-response', onResponse)
      socket.on('upgrade', onUpgrade)
      socket.on('open', onOpen)
    })
  }

  async listen(addr: Multiaddr, options: ListenOptions): Promise<Listener> {
    const shown = addr.toString()
    const target = parseWsAddr(addr)
    if (target === undefined) throw new ListenError(shown, 'not a WebSocket address')
    const { server, owned } = await this.#server(target, shown)
    const { gate, logger, upgrader, limits } = this.#components
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: WS_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    })
    const shutdown = new AbortController()
    const accepted = new Set<Connection>()
    const suffix = wsSuffix(target.secure, target.path)

    const onUpgrade: UpgradeHandler = (req, socket, head) => {
      const remoteAddr = remoteMultiaddr(socket).encapsulate(target.secure ? '/tls/ws' : '/ws')
      let ticket: AdmissionTicket
      try {
        ticket = gate.admit('inbound', remoteAddr)
      } catch (err) {
        logThrottled(
          logger,
          'warn',
          { remote: remoteAddr.toString(), reason: messageOf(err) },
          'inbound connection refused',
        )
        options.onConnectionError?.(err as Error, remoteAddr)
        refuse(socket, 503, 'Service Unavailable')
        return
      }
      let upgraded = false
      socket.once('close', () => {
        if (!upgraded) ticket.release() // the WebSocket handshake itself failed
      })
      wss.handleUpgrade(req, socket, head, websocket => {
        upgraded = true
        watchDeadPeer(socket, limits)
        const raw = nodeStreamToRaw(createWebSocketStream(websocket), remoteAddr)
        upgrader
          .upgradeInbound(raw, {
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
            connection => {
              if (connection.status !== 'open') return
              accepted.add(connection)
              options.onConnection(connection)
            },
            (err: unknown) => {
              logThrottled(
                logger,
                'info',
                { remote: remoteAddr.toString(), reason: messageOf(err) },
                'inbound connection failed',
              )
              options.onConnectionError?.(err as Error, remoteAddr)
            },
          )
      })
    }

    let unroute: () => void
    try {
      unroute = route(server, target.path, onUpgrade)
    } catch (err) {
      throw new ListenError(shown, messageOf(err))
    }
    if (owned) {
      // ordinary HTTP requests: say where the WebSocket endpoint is, nothing else is served
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        const here = requestPath(req.url) === target.path
        res.writeHead(here ? 426 : 404, here ? { Upgrade: 'websocket', Connection: 'Upgrade' } : {})
        res.end(here ? 'this is a pnet WebSocket endpoint\n' : '')
      })
      try {
        server.listen({ host: target.host, port: target.port, ipv6Only: target.family === 'ip6' })
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))])
      } catch (err) {
        unroute()
        throw new ListenError(shown, messageOf(err), { cause: err })
      }
    }

    let closed = false
    return {
      get addrs() {
        const bound = server.address()
        if (closed || bound === null || typeof bound === 'string') return []
        const base = ipPortToMultiaddr(bound.address, bound.port)
        return getThinWaistAddresses(base, bound.port).map(a => a.encapsulate(suffix))
      },
      close: async () => {
        if (closed) return
        closed = true
        unroute()
        shutdown.abort() // handshakes in progress
        await Promise.all(
          [...accepted].map(c =>
            c.close({ signal: AbortSignal.timeout(2_000) }).catch(() => c.abort(new Error('listener closed'))),
          ),
        )
        wss.close()
        if (owned) {
          server.closeAllConnections()
          await new Promise<void>(resolve => server.close(() => resolve()))
        }
      },
    }
  }

  /** The attached server (checked against the address) or a new one for this listener. */
  async #server(target: WsTarget, shown: string): Promise<{ server: http.Server; owned: boolean }> {
    const attached = this.#init.server
    if (attached !== undefined) {
      const bound = attached.address()
      if (bound === null || typeof bound === 'string') {
        throw new ListenError(shown, 'the server given to ws({ server }) is not listening on a TCP port yet')
      }
      if (target.port !== 0 && target.port !== bound.port) {
        throw new ListenError(
          shown,
          `the server given to ws({ server }) listens on port ${bound.port}, not ${target.port}`,
        )
      }
      const secure = attached instanceof tls.Server
      if (secure !== target.secure) {
        throw new ListenError(
          shown,
          `the server given to ws({ server }) is ${secure ? 'https (use /tls/ws or wss://)' : 'plain http (use /ws or ws://)'}`,
        )
      }
      return { server: attached, owned: false }
    }
    // the HTTP upgrade request must arrive within the handshake deadline (slow-loris), checked every second
    const deadline = this.#components.limits.handshakeTimeoutMs
    const timeouts = { headersTimeout: deadline, requestTimeout: deadline, connectionsCheckingInterval: 1_000 }
    if (!target.secure) return { server: http.createServer(timeouts), owned: true }
    if (this.#init.cert === undefined || this.#init.key === undefined) {
      throw new ListenError(shown, 'a wss (/tls/ws) listener needs a certificate: ws({ cert, key })')
    }
    try {
      return { server: https.createServer({ ...timeouts, cert: this.#init.cert, key: this.#init.key }), owned: true }
    } catch (err) {
      throw new ListenError(shown, `bad certificate or key: ${messageOf(err)}`, { cause: err })
    }
  }
}

function remoteMultiaddr(socket: Socket): Multiaddr {
  const ip = (socket.remoteAddress ?? '0.0.0.0').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')
  try {
    return ipPortToMultiaddr(ip, socket.remotePort ?? 0)
  } catch {
    return multiaddr('/ip4/0.0.0.0/tcp/0')
  }
}
