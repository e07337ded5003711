/**
 * {@link nodeStreamToRaw}: any Node.js Duplex (a unix socket, a child's stdio, a WebSocket stream) as a
 * {@link RawConnection}, the shape the upgrader takes from byte-stream transports.
 */
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RawConnection } from './interface.js'

/**
 * A Node.js Duplex as a {@link RawConnection}: the easy way to give a socket-like thing to the upgrader.
 *
 * @example
 * ```ts
 * const socket = net.connect('/run/pnet.sock')
 * await once(socket, 'connect')
 * const conn = await upgrader.upgradeOutbound(nodeStreamToRaw(socket, multiaddr('/unix/%2Frun%2Fpnet.sock')),
 *   { transport: 'unix' })
 * ```
 */
export function nodeStreamToRaw(duplex: Duplex, remoteAddr: Multiaddr): RawConnection {
  // errors reach us through the source iteration and the sink's writes; without a listener, destroying the stream
  // with an error (abort) would also throw it as an uncaught exception
  duplex.on('error', () => {})
  return {
    remoteAddr,
    source: duplex as AsyncIterable<Uint8Array>,
    async sink(source) {
      for await (const chunk of source) {
        if (duplex.destroyed) throw new Error('stream destroyed')
        if (!duplex.write(chunk)) await once(duplex, 'drain')
      }
      duplex.end()
    },
    async close() {
      if (duplex.destroyed) return
      duplex.end()
      const closed = once(duplex, 'close').catch(() => {})
      // a peer that never closes its side must not hold us: give it a moment, then destroy
      const timer = setTimeout(() => duplex.destroy(), 2_000)
      await closed
      clearTimeout(timer)
    },
    abort(err) {
      duplex.destroy(err)
    },
  }
}
