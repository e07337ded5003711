/**
 * One yamux stream. Flow control follows the reader: bytes are credited back to the remote (WINDOW_UPDATE) only once
 * the application has taken them off the queue, so a reader that stops reading stalls the remote writer after at
 * most one window. The window starts at the spec's 256 KiB and doubles (up to the configured maximum) while the
 * reader keeps up within a few round trips.
 */
import type { PeerId } from '@libp2p/interface'
import { BaseStream } from '../base-stream.js'
import { StreamAbortedError, StreamResetError, withoutStack } from '../errors.js'
import type { Direction } from '../interface.js'
import { Flag, INITIAL_WINDOW, Type } from './frame.js'

/** What a stream needs from its session. */
export interface StreamSession {
  readonly remotePeer: PeerId
  readonly maxWindow: number
  /** round-trip time in ms (from yamux pings), at least 1 */
  rtt(): number
  sendFrame(type: number, flags: number, streamId: number, length: number, payload?: Uint8Array): void
  /** resolves when the raw pipe accepts more; undefined when it does now */
  writable(): Promise<void> | undefined
  streamEnded(stream: YamuxStream): void
  touch(): void
}

export class YamuxStream extends BaseStream {
  readonly streamId: number
  readonly #session: StreamSession
  #sendWindow = INITIAL_WINDOW
  #recvWindow = INITIAL_WINDOW
  /** bytes the remote may still send before it must wait for us */
  #recvAvailable = INITIAL_WINDOW
  /** bytes the reader consumed that we have not credited back yet */
  #unacked = 0
  #lastUpdate = performance.now()
  #windowWaiter: (() => void) | undefined

  constructor(session: StreamSession, streamId: number, direction: Direction, connectionId: string) {
    super(`${connectionId}/${streamId}`, direction, session.remotePeer)
    this.#session = session
    this.streamId = streamId
  }

  // ---- from the session (remote side)

  /** A DATA frame header: reserve its length against our window; false means the remote overran it. */
  reserve(length: number): boolean {
    if (length > this.#recvAvailable) return false
    this.#recvAvailable -= length
    return true
  }

  receive(piece: Uint8Array): void {
    this.push(piece)
    this.#session.touch()
  }

  windowUpdate(delta: number): void {
    this.#sendWindow += delta
    const wake = this.#windowWaiter
    this.#windowWaiter = undefined
    wake?.()
  }

  remoteFin(): void {
    this.pushEnd()
  }

  remoteReset(): void {
    // the remote's doing: no stack (a churning peer resets thousands a second)
    this.fail(
      withoutStack(() => new StreamResetError(this.remotePeer.toString(), this.id)),
      'reset',
    )
  }

  /** The connection died under the stream (`err` says why and has the stack worth having). */
  connectionLost(err: Error): void {
    const lost = withoutStack(
      () => new StreamAbortedError(this.remotePeer.toString(), this.id, err.message, { cause: err }),
    )
    this.fail(lost, 'aborted')
  }

  // ---- BaseStream hooks (local side)

  protected writeChunk(chunk: Uint8Array): Promise<void> | undefined {
    if (chunk.byteLength <= this.#sendWindow) {
      this.#sendWindow -= chunk.byteLength
      this.#session.sendFrame(Type.Data, 0, this.streamId, chunk.byteLength, chunk)
      this.#session.touch()
      return this.#session.writable()
    }
    return this.#writeSlow(chunk)
  }

  async #writeSlow(chunk: Uint8Array): Promise<void> {
    let at = 0
    while (at < chunk.byteLength) {
      while (this.#sendWindow === 0) {
        await new Promise<void>(resolve => {
          this.#windowWaiter = resolve
        })
        if (this.writeStatus === 'closed' && this.status !== 'open') return
      }
      const n = Math.min(this.#sendWindow, chunk.byteLength - at)
      this.#sendWindow -= n
      this.#session.sendFrame(Type.Data, 0, this.streamId, n, chunk.subarray(at, at + n))
      at += n
      const wait = this.#session.writable()
      if (wait !== undefined) await wait
    }
    this.#session.touch()
  }

  protected sendFin(): undefined {
    this.#session.sendFrame(Type.WindowUpdate, Flag.FIN, this.streamId, 0)
    return undefined
  }

  protected sendReset(): void {
    this.#session.sendFrame(Type.WindowUpdate, Flag.RST, this.streamId, 0)
  }

  protected onConsumed(bytes: number): void {
    this.#unacked += bytes
    // credit back in batches of half a window: fewer frames, and the remote never runs dry
    if (this.#unacked < this.#recvWindow / 2 || this.status !== 'open') return
    const now = performance.now()
    let delta = this.#unacked
    // the reader emptied half a window within a few round trips: the window, not the reader, limits throughput
    if (this.#recvWindow < this.#session.maxWindow && now - this.#lastUpdate < 4 * this.#session.rtt()) {
      const grown = Math.min(this.#recvWindow * 2, this.#session.maxWindow)
      delta += grown - this.#recvWindow
      this.#recvWindow = grown
    }
    this.#lastUpdate = now
    this.#unacked = 0
    this.#recvAvailable += delta
    this.#session.sendFrame(Type.WindowUpdate, 0, this.streamId, delta)
  }

  protected onEnded(): void {
    const wake = this.#windowWaiter
    this.#windowWaiter = undefined
    wake?.()
    this.#session.streamEnded(this)
  }
}
