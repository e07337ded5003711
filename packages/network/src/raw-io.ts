/**
 * RawIO: the smallest interface our encrypted session needs from a byte pipe, with adapters for a Node socket (the
 * fast path: no intermediate event layers), a libp2p MessageStream (ws, memory) and a {@link RawConnection} duplex
 * (user transports).
 */
import type { Socket } from 'node:net'
import type { MessageStream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Pushable, pushable } from 'it-pushable'
import type { RawConnection } from './interface.js'

export interface RawIOHandlers {
  data(buf: Uint8Array): void
  /** the remote ended the byte stream (FIN); no more data */
  end(): void
  /** the pipe failed or was reset */
  error(err: Error): void
  /** writes may continue after write() returned false */
  drain(): void
}

export interface RawIO {
  readonly remoteAddr: Multiaddr
  /** wire byte counters */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Writes the pieces in order; false means: wait for `drain` before writing more. */
  write(pieces: Uint8Array[]): boolean
  /** Installs the handlers (replacing any previous ones); data that arrived before is delivered at once. */
  attach(handlers: RawIOHandlers): void
  pause(): void
  resume(): void
  /** Graceful: flush, then end our side; the pipe closes when the remote ends too (or after a short grace). */
  end(): void
  destroy(err?: Error): void
}

/** Bytes queued on a socket before writers are told to wait. */
const SOCKET_HIGH_WATER = 1024 * 1024
/** After we ended our side, how long the remote gets to end its side before the pipe is destroyed. */
const END_GRACE_MS = 2_000

/** Handlers that buffer until real ones are attached (then replay in order). */
export class Buffering implements RawIOHandlers {
  readonly chunks: Uint8Array[] = []
  ended = false
  failed: Error | undefined
  data(buf: Uint8Array): void {
    this.chunks.push(buf)
  }
  end(): void {
    this.ended = true
  }
  error(err: Error): void {
    this.failed = err
  }
  drain(): void {}
  replay(to: RawIOHandlers): void {
    for (const c of this.chunks) to.data(c)
    this.chunks.length = 0
    if (this.failed !== undefined) to.error(this.failed)
    else if (this.ended) to.end()
  }
}

/** Counters, handler buffering and replay shared by the RawIO adapters (and the memory transport). */
export abstract class BaseIO implements RawIO {
  bytesIn = 0
  bytesOut = 0
  protected handlers: RawIOHandlers = new Buffering()
  constructor(readonly remoteAddr: Multiaddr) {}
  attach(handlers: RawIOHandlers): void {
    const previous = this.handlers
    this.handlers = handlers
    if (previous instanceof Buffering) previous.replay(handlers)
  }
  protected onData(buf: Uint8Array): void {
    this.bytesIn += buf.byteLength
    this.handlers.data(buf)
  }
  abstract write(pieces: Uint8Array[]): boolean
  abstract pause(): void
  abstract resume(): void
  abstract end(): void
  abstract destroy(err?: Error): void
}

class SocketIO extends BaseIO {
  readonly #socket: Socket
  #done = false

  constructor(socket: Socket, remoteAddr: Multiaddr, first?: Uint8Array) {
    super(remoteAddr)
    this.#socket = socket
    if (first !== undefined) this.onData(first)
    socket.setNoDelay(true)
    socket.on('data', (buf: Buffer) => this.onData(buf))
    socket.on('end', () => this.handlers.end())
    socket.on('error', err => this.#fail(err))
    socket.on('close', hadError => {
      if (!this.#done) hadError ? this.#fail(new Error('socket closed with a transmission error')) : this.handlers.end()
      this.#done = true
    })
    socket.on('drain', () => this.handlers.drain())
  }

  #fail(err: Error): void {
    if (this.#done) return
    this.#done = true
    this.handlers.error(err)
  }

  write(pieces: Uint8Array[]): boolean {
    const socket = this.#socket
    if (socket.destroyed || socket.writableEnded) return true
    if (pieces.length > 1) socket.cork()
    for (const p of pieces) {
      this.bytesOut += p.byteLength
      socket.write(p)
    }
    if (pieces.length > 1) socket.uncork()
    return socket.writableLength < SOCKET_HIGH_WATER
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  end(): void {
    const socket = this.#socket
    if (socket.destroyed) return
    socket.end()
    setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
  }

  destroy(err?: Error): void {
    this.#done = true
    const socket = this.#socket
    if (socket.destroyed) return
    // a reset tells the remote at once that the connection is gone (a FIN would look like a graceful end)
    if (err !== undefined && typeof socket.resetAndDestroy === 'function' && !socket.writableEnded) {
      try {
        socket.resetAndDestroy()
        return
      } catch {
        // not a TCP handle (e.g. a unix socket): fall through
      }
    }
    socket.destroy()
  }
}

/**
 * A connected Node socket (TCP or unix) as RawIO.
 *
 * @example
 * ```ts
 * const io = socketToIO(socket, multiaddr('/ip4/127.0.0.1/tcp/4001'))
 * ```
 *
 * `first`: bytes already read from the socket by whoever had it before (delivered first).
 */
export function socketToIO(socket: Socket, remoteAddr: Multiaddr, first?: Uint8Array): RawIO {
  return new SocketIO(socket, remoteAddr, first)
}

class MessageStreamIO extends BaseIO {
  readonly #ms: MessageStream

  constructor(ms: MessageStream & { remoteAddr: Multiaddr }) {
    super(ms.remoteAddr)
    this.#ms = ms
    ms.addEventListener('message', evt => {
      const data = evt.data
      if (data instanceof Uint8Array) this.onData(data)
      else for (const piece of data) this.onData(piece)
    })
    ms.addEventListener('close', evt => {
      if (evt.error !== undefined) this.handlers.error(evt.error)
      else this.handlers.end()
    })
    ms.addEventListener('remoteCloseWrite', () => this.handlers.end())
    ms.addEventListener('drain', () => this.handlers.drain())
  }

  write(pieces: Uint8Array[]): boolean {
    if (this.#ms.status !== 'open') return true
    let ok = true
    for (const p of pieces) {
      this.bytesOut += p.byteLength
      ok = this.#ms.send(p)
    }
    return ok && !this.#ms.writableNeedsDrain
  }

  pause(): void {
    if (this.#ms.status === 'open') this.#ms.pause()
  }

  resume(): void {
    if (this.#ms.status === 'open') this.#ms.resume()
  }

  end(): void {
    this.#ms.close().catch(err => this.#ms.abort(err as Error))
  }

  destroy(err?: Error): void {
    this.#ms.abort(err ?? new Error('connection closed'))
  }
}

/** A libp2p MessageStream (what @libp2p/* transports produce) as RawIO. */
export function messageStreamToIO(ms: MessageStream & { remoteAddr: Multiaddr }): RawIO {
  return new MessageStreamIO(ms)
}

class DuplexIO extends BaseIO {
  readonly #raw: RawConnection
  readonly #out: Pushable<Uint8Array>
  #paused = false
  #resumeRead: (() => void) | undefined
  #done = false

  constructor(raw: RawConnection) {
    super(raw.remoteAddr)
    this.#raw = raw
    this.#out = pushable()
    raw.sink(this.#out).catch((err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err))))
    void this.#readLoop()
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const chunk of this.#raw.source) {
        if (chunk instanceof Uint8Array) this.onData(chunk)
        else for (const piece of chunk) this.onData(piece)
        while (this.#paused) {
          await new Promise<void>(resolve => {
            this.#resumeRead = resolve
          })
        }
      }
      if (!this.#done) this.handlers.end()
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #fail(err: Error): void {
    if (this.#done) return
    this.#done = true
    this.handlers.error(err)
  }

  write(pieces: Uint8Array[]): boolean {
    for (const p of pieces) {
      this.bytesOut += p.byteLength
      this.#out.push(p)
    }
    const ok = this.#out.readableLength < SOCKET_HIGH_WATER
    if (!ok) {
      this.#out.onEmpty().then(
        () => this.handlers.drain(),
        () => {},
      )
    }
    return ok
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    const r = this.#resumeRead
    this.#resumeRead = undefined
    r?.()
  }

  end(): void {
    this.#out.end()
    this.#raw.close().catch(() => {})
  }

  destroy(err?: Error): void {
    this.#done = true
    this.#out.end()
    this.#raw.abort(err ?? new Error('connection closed'))
  }
}

/** A {@link RawConnection} duplex (a user transport's pipe) as RawIO. */
export function duplexToIO(raw: RawConnection): RawIO {
  return new DuplexIO(raw)
}
