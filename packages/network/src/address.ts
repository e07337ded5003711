/**
 * Addresses: multiaddrs everywhere, with URL shorthands accepted wherever an address is taken.
 *
 * | shorthand                     | multiaddr                                  |
 * |-------------------------------|--------------------------------------------|
 * | `tcp://127.0.0.1:4001`        | `/ip4/127.0.0.1/tcp/4001`                  |
 * | `tcp://[::1]:4001`            | `/ip6/::1/tcp/4001`                        |
 * | `tcp://example.org:4001`      | `/dns/example.org/tcp/4001`                |
 * | `memory://hub-a`              | `/memory/hub-a`                            |
 * | `ws://host:80/a/b`            | `/ip4/…/tcp/80/ws/http-path/a%2Fb`         |
 * | `wss://host:443`              | `/ip4/…/tcp/443/tls/ws`                    |
 * | `quic://host:4001`            | `/ip4/…/udp/4001/quic-v1`                  |
 *
 * Any of them may end in `/p2p/<peerId>` to name the peer expected at the address.
 *
 * @example
 * ```ts
 * parseAddress('tcp://127.0.0.1:4001/p2p/12D3KooW…').toString()
 * // '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…'
 * ```
 */
import { isIP } from 'node:net'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidAddressError, messageOf } from './errors.js'

export type AddressInput = string | Multiaddr

const P2P_SUFFIX = /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)\/?$/

/** Parses a multiaddr or URL shorthand; throws InvalidAddressError naming the bad value. */
export function parseAddress(input: AddressInput): Multiaddr {
  if (isMultiaddr(input)) return input
  if (typeof input !== 'string' || input.trim() === '') {
    throw new InvalidAddressError(String(input), 'expected a multiaddr or URL such as tcp://127.0.0.1:4001')
  }
  const text = input.trim()
  let ma: Multiaddr
  try {
    ma = text.startsWith('/') ? multiaddr(text) : fromUrl(text)
  } catch (err) {
    if (err instanceof InvalidAddressError) throw err
    throw new InvalidAddressError(text, messageOf(err))
  }
  const peer = peerIdOfAddress(ma, text)
  if (peer === undefined && ma.getComponents().some(c => c.name === 'p2p')) {
    throw new InvalidAddressError(text, 'has a /p2p/ component that is not a peer ID')
  }
  return ma
}

function fromUrl(text: string): Multiaddr {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    throw new InvalidAddressError(
      text,
      'expected a multiaddr (/ip4/…) or a URL (tcp://, ws://, wss://, quic://, memory://)',
    )
  }
  let rest = text
  let peer = ''
  const p2p = P2P_SUFFIX.exec(text)
  if (p2p?.[1] !== undefined) {
    peer = `/p2p/${p2p[1]}`
    rest = text.slice(0, p2p.index)
  }
  if (!['tcp', 'quic', 'ws', 'wss', 'http', 'https', 'memory'].includes(scheme)) {
    throw new InvalidAddressError(text, `unknown scheme ${scheme}:// (expected tcp, ws, wss, quic or memory)`)
  }
  if (scheme === 'memory') {
    const name = rest.slice('memory://'.length).replace(/\/$/, '')
    if (name === '' || name.includes('/')) throw new InvalidAddressError(text, 'memory:// needs a name without slashes')
    return multiaddr(`/memory/${name}${peer}`)
  }
  let url: URL
  try {
    url = new URL(rest)
  } catch {
    throw new InvalidAddressError(text, 'not a valid URL')
  }
  const defaultPort = { ws: '80', wss: '443', http: '80', https: '443' }[scheme]
  const port = url.port !== '' ? url.port : defaultPort
  if (port === undefined) throw new InvalidAddressError(text, `${scheme}:// needs a port`)
  const host = hostPart(url.hostname, text)
  if (url.search !== '' || url.hash !== '')
    throw new InvalidAddressError(text, 'a query (?…) or fragment (#…) has no multiaddr form')
  const path = url.pathname !== '/' && url.pathname !== '' ? `/http-path/${httpPath(url.pathname, text)}` : ''
  switch (scheme) {
    case 'tcp':
      if (path !== '') throw new InvalidAddressError(text, 'tcp:// takes no path')
      return multiaddr(`${host}/tcp/${port}${peer}`)
    case 'quic':
      if (path !== '') throw new InvalidAddressError(text, 'quic:// takes no path')
      return multiaddr(`${host}/udp/${port}/quic-v1${peer}`)
    case 'ws':
    case 'http':
      return multiaddr(`${host}/tcp/${port}/ws${path}${peer}`)
    case 'wss':
    case 'https':
      return multiaddr(`${host}/tcp/${port}/tls/ws${path}${peer}`)
    default:
      throw new InvalidAddressError(text, `unknown scheme ${scheme}:// (expected tcp, ws, wss, quic or memory)`)
  }
}

/** multiaddr 13 writes `/http-path/` as the decoded path without its leading `/`, percent-encoded as one value. */
function httpPath(pathname: string, text: string): string {
  try {
    return encodeURIComponent(decodeURIComponent(pathname).slice(1))
  } catch {
    throw new InvalidAddressError(text, 'has a malformed percent-encoding in its path')
  }
}

function hostPart(hostname: string, text: string): string {
  const bare = hostname.replace(/^\[|\]$/g, '')
  if (bare === '') throw new InvalidAddressError(text, 'missing host')
  const family = isIP(bare)
  if (family === 4) return `/ip4/${bare}`
  if (family === 6) return `/ip6/${bare}`
  return `/dns/${bare}`
}

/** The peer ID named by the address's last `/p2p/` component, if any. */
export function peerIdOfAddress(addr: Multiaddr, shownAs = addr.toString()): PeerId | undefined {
  const value = addr.getComponents().findLast(c => c.name === 'p2p')?.value
  if (value === undefined) return undefined
  try {
    return peerIdFromString(value)
  } catch (err) {
    throw new InvalidAddressError(shownAs, `bad peer ID ${value} (${messageOf(err)})`)
  }
}

/** The address without its trailing `/p2p/<id>`. */
export function withoutPeerId(addr: Multiaddr): Multiaddr {
  const parts = addr.getComponents()
  if (parts.at(-1)?.name !== 'p2p') return addr
  return multiaddr(parts.slice(0, -1))
}

/** The address ending in `/p2p/<peer>` (replacing any peer ID already there). */
export function withPeerId(addr: Multiaddr, peer: PeerId): Multiaddr {
  return withoutPeerId(addr).encapsulate(`/p2p/${peer.toString()}`)
}

/** The names of the address's protocols, e.g. `['ip4', 'tcp']`. */
export function protocolNames(addr: Multiaddr): string[] {
  return addr.getComponents().map(c => c.name)
}
