/**
 * Admission control for one network: total connections, connections per peer, pending inbound handshakes.
 * Transports ask for a ticket before the handshake and bind it to the peer after; the connection releases it.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ConnectionClosedError,
  TooManyConnectionsError,
  TooManyConnectionsPerPeerError,
  TooManyPendingHandshakesError,
  withoutStack,
} from './errors.js'
import type { AdmissionTicket, ConnectionGate, Direction, Limits } from './interface.js'

export interface Gate extends ConnectionGate {
  /** refuse everything from now on (the network is closing) */
  shut(): void
  readonly counts: { readonly open: number; readonly pending: number }
}

/**
 * Creates the gate that enforces `limits` across every transport of a network.
 *
 * @example
 * ```ts
 * const gate = createGate(resolveLimits({ maxConnections: 10 }))
 * const ticket = gate.admit('inbound', remoteAddr)   // throws when full
 * ticket.bind(remotePeer)                              // after the handshake
 * ticket.release()                                     // when the connection ends
 * ```
 */
export function createGate(limits: Readonly<Limits>): Gate {
  let open = 0
  let pending = 0
  let shut = false
  const perPeer = new Map<string, number>()

  return {
    get counts() {
      return { open, pending }
    },
    shut() {
      shut = true
    },
    admits(direction: Direction): boolean {
      return !shut && open < limits.maxConnections && (direction !== 'inbound' || pending < limits.maxPendingHandshakes)
    },
    admit(direction: Direction, remoteAddr: Multiaddr | (() => Multiaddr)): AdmissionTicket {
      const addr = (): string => (typeof remoteAddr === 'function' ? remoteAddr() : remoteAddr).toString()
      if (shut) throw new ConnectionClosedError(addr(), 'network is shutting down')
      // refusals come by the thousand in a connection flood: no stacks (they would only show the accept loop)
      if (open >= limits.maxConnections) {
        throw withoutStack(() => new TooManyConnectionsError(addr(), limits.maxConnections))
      }
      const inbound = direction === 'inbound'
      if (inbound && pending >= limits.maxPendingHandshakes) {
        throw withoutStack(() => new TooManyPendingHandshakesError(addr(), limits.maxPendingHandshakes))
      }
      open++
      if (inbound) pending++
      let isPending = inbound
      let peer: string | undefined
      let released = false
      return {
        bind(remotePeer: PeerId) {
          if (released) throw new ConnectionClosedError(remotePeer.toString(), 'admission already released')
          if (isPending) {
            isPending = false
            pending--
          }
          const id = remotePeer.toString()
          const count = perPeer.get(id) ?? 0
          if (count >= limits.maxConnectionsPerPeer)
            throw new TooManyConnectionsPerPeerError(id, limits.maxConnectionsPerPeer)
          perPeer.set(id, count + 1)
          peer = id
        },
        release() {
          if (released) return
          released = true
          open--
          if (isPending) pending--
          if (peer !== undefined) {
            const left = (perPeer.get(peer) ?? 1) - 1
            if (left <= 0) perPeer.delete(peer)
            else perPeer.set(peer, left)
          }
        },
      }
    },
  }
}
