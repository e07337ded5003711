/**
 * WebSocket multiaddrs ↔ URLs.
 *
 * | multiaddr                                              | URL                          |
 * |--------------------------------------------------------|------------------------------|
 * | `/ip4/10.0.0.1/tcp/8080/ws`                            | `ws://10.0.0.1:8080/`        |
 * | `/ip6/::1/tcp/8080/ws/http-path/mesh`                  | `ws://[::1]:8080/mesh`       |
 * | `/dns/example.org/tcp/443/tls/ws/http-path/a%2Fb`      | `wss://example.org:443/a/b`  |
 * | `/ip4/10.0.0.1/tcp/443/tls/sni/example.org/ws`         | `wss://10.0.0.1:443/` (SNI example.org) |
 * | `/ip4/10.0.0.1/tcp/443/wss` (legacy)                   | `wss://10.0.0.1:443/`        |
 *
 * The `/http-path/` value is the decoded path (multiaddr 13 keeps it with its leading `/`).
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

export interface WsTarget {
  secure: boolean
  /** ip4, ip6 or a DNS name */
  family: 'ip4' | 'ip6' | 'dns'
  host: string
  port: number
  /** decoded URL path, `/` when none */
  path: string
  /** TLS server name: from `/sni/` or a DNS host */
  servername?: string
}

const HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/** The WebSocket endpoint an address names, or undefined when it is not a WebSocket address. */
export function parseWsAddr(addr: Multiaddr): WsTarget | undefined {
  const parts = addr.getComponents()
  let i = 0
  const next = (): (typeof parts)[number] | undefined => parts[i]
  const host = next()
  if (host === undefined || !HOSTS.has(host.name) || host.value === undefined) return undefined
  i++
  const tcp = next()
  if (tcp?.name !== 'tcp' || tcp.value === undefined) return undefined
  i++
  let secure = false
  let sni: string | undefined
  if (next()?.name === 'tls') {
    secure = true
    i++
    if (next()?.name === 'sni') {
      sni = next()?.value
      i++
    }
    if (next()?.name !== 'ws') return undefined
    i++
  } else if (next()?.name === 'wss') {
    secure = true
    i++
  } else if (next()?.name === 'ws') {
    i++
  } else {
    return undefined
  }
  let path = '/'
  if (next()?.name === 'http-path') {
    path = next()?.value ?? '/'
    i++
  }
  if (i !== parts.length) return undefined
  const family = host.name === 'ip4' || host.name === 'ip6' ? host.name : 'dns'
  return {
    secure,
    family,
    host: host.value,
    port: Number(tcp.value),
    path: path.startsWith('/') ? path : `/${path}`,
    servername: sni ?? (family === 'dns' ? host.value : undefined),
  }
}

/** `ws://…` or `wss://…` for a target; each path segment percent-encoded. */
export function wsUrl(target: WsTarget): string {
  const host = target.family === 'ip6' ? `[${target.host}]` : target.host
  const path = target.path.split('/').map(encodeURIComponent).join('/')
  return `${target.secure ? 'wss' : 'ws'}://${host}:${target.port}${path}`
}

/** The suffix after `/tcp/PORT`: `/ws` or `/tls/ws`, then `/http-path/…` when the path is not `/`. */
export function wsSuffix(secure: boolean, path: string): Multiaddr {
  const base = secure ? '/tls/ws' : '/ws'
  if (path === '/') return multiaddr(base)
  return multiaddr(base).encapsulate(multiaddr([{ code: 481, name: 'http-path', value: path }]))
}

/** A request path (percent-encoded, maybe with a query) → the decoded path, or undefined if malformed. */
export function requestPath(url: string | undefined): string | undefined {
  const raw = (url ?? '/').split('?')[0] ?? '/'
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}
