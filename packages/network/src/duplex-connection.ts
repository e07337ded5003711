/**
 * Adapters between raw byte pipes and the libp2p MessageStream the noise/yamux components run on.
 *
 * - {@link rawToMessageStream}: a {@link RawConnection} (async-iterable source + sink) → MessageStream.
 * - {@link nodeStreamToRaw}: any Node.js Duplex (a unix socket, a child's stdio) → {@link RawConnection}.
 */
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import type { AbortOptions, MultiaddrConnection } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Pushable, pushable } from 'it-pushable'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Direction, RawConnection } from './interface.js'

/** Bytes queued toward a raw sink before writers are told to wait for drain. */
const RAW_WRITE_HIGH_WATER = 256 * 1024

class RawMessageStream extends AbstractMultiaddrConnection {
  readonly #raw: RawConnection
  readonly #out: Pushable<Uint8Array>
  #readPaused = false
  #resumeRead: (() => void) | undefined

  constructor(raw: RawConnection, direction: Direction) {
    super({ remoteAddr: raw.remoteAddr, direction, log: logger(`pnet:raw:${direction}`), inactivityTimeout: 0 })
    this.#raw = raw
    this.#out = pushable()
    raw.sink(this.#out).catch((err: unknown) => this.abort(toError(err)))
    void this.#readLoop()
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const chunk of this.#raw.source) {
        if (this.status !== 'open' && this.status !== 'closing') return
        this.onData(chunk)
        while (this.#readPaused) {
          await new Promise<void>(resolve => {
            this.#resumeRead = resolve
          })
        }
      }
      this.onTransportClosed()
    } catch (err) {
      if (this.status === 'open' || this.status === 'closing') this.abort(toError(err))
    }
  }

  sendData(data: Uint8ArrayList): SendResult {
    for (const buf of data) this.#out.push(buf)
    const canSendMore = this.#out.readableLength < RAW_WRITE_HIGH_WATER
    if (!canSendMore) {
      this.#out.onEmpty().then(
        () => this.safeDispatchEvent('drain'),
        () => {},
      )
    }
    return { sentBytes: data.byteLength, canSendMore }
  }

  sendReset(err: Error): void {
    this.#out.end(err)
    this.#raw.abort(err)
  }

  sendPause(): void {
    this.#readPaused = true
  }

  sendResume(): void {
    this.#readPaused = false
    const resume = this.#resumeRead
    this.#resumeRead = undefined
    resume?.()
  }

  async sendClose(_options?: AbortOptions): Promise<void> {
    this.#out.end()
    await this.#raw.close()
  }
}

/** Wraps a raw duplex so the noise and yamux components can run on it. */
export function rawToMessageStream(raw: RawConnection, direction: Direction): MultiaddrConnection {
  return new RawMessageStream(raw, direction)
}

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

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
