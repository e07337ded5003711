/**
 * QUIC's own streams as a libp2p StreamMuxer, so MuxedConnection (limits, idle timeout, stats) runs on them unchanged.
 *
 * Why not the muxer @chainsafe/libp2p-quic ships: its streams keep reading while paused and abort once 4 MB pile up
 * for a reader that does not read. Here a paused stream stops reading from the native stream, so QUIC's own flow
 * control (the per-stream receive window) stalls the remote writer instead.
 *
 * On the wire nothing is added: a stream is a bidirectional QUIC stream; as in every libp2p QUIC implementation it
 * reaches the remote with its first byte (or its FIN, or a reset).
 */
import type {
  AbortOptions,
  CreateStreamOptions,
  Logger,
  MessageStream,
  StreamMuxer,
  StreamMuxerStatus,
} from '@libp2p/interface'
import { TypedEventEmitter } from '@libp2p/interface'
import { AbstractStream, type SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Direction } from '../interface.js'

/** The native stream of @chainsafe/libp2p-quic 2.x (a quinn bidirectional stream). */
export interface NativeQuicStream {
  id(): string
  /** resolves with up to `max` bytes, or null once the remote finished its writes */
  read(max: number): Promise<Uint8Array | null>
  write(data: Uint8Array): Promise<void>
  finishWrite(): Promise<void>
  resetWrite(): Promise<void>
  stopRead(): Promise<void>
}

/** The native connection of @chainsafe/libp2p-quic 2.x (a quinn connection, TLS done). */
export interface NativeQuicConnection {
  id(): string
  inboundStream(): Promise<NativeQuicStream>
  outboundStream(): Promise<NativeQuicStream>
  /** closes the connection at once (QUIC CONNECTION_CLOSE, code 0) */
  abort(): void
  /** smoothed round-trip time in whole ms */
  rtt(): number
  stats(): { udpTxBytes: number; udpRxBytes: number }
}

/** Bytes asked of the native stream per read: one read crosses into Rust once per this many bytes. */
const READ_CHUNK_BYTES = 64 * 1024

/** The native stream failed because the remote reset it or stopped reading it (its abort). */
function isRemoteReset(err: unknown): boolean {
  return err instanceof Error && /reset by peer|stopped by peer/.test(err.message)
}

class QuicNativeStream extends AbstractStream {
  readonly #native: NativeQuicStream
  #resumeRead: (() => void) | undefined
  #reading = true

  constructor(native: NativeQuicStream, direction: Direction, log: Logger) {
    super({ id: native.id(), direction, log, inactivityTimeout: 0 })
    this.#native = native
    void this.#readLoop()
  }

  async #readLoop(): Promise<void> {
    try {
      while (this.#reading) {
        while (this.readStatus === 'paused') {
          await new Promise<void>(resolve => {
            this.#resumeRead = resolve
          })
        }
        const chunk = await this.#native.read(READ_CHUNK_BYTES)
        if (chunk === null) break
        this.onData(chunk) // dropped by the base class if our read side is closed
      }
      this.onRemoteCloseWrite()
    } catch (err) {
      if (this.status !== 'open') return // we aborted it: the native read fails by design
      if (isRemoteReset(err)) this.onRemoteReset()
      else this.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  sendData(data: Uint8ArrayList): SendResult {
    const buf = data.subarray()
    // one native write at a time: the base class queues the rest until 'drain'
    this.#native.write(buf).then(
      () => this.safeDispatchEvent('drain'),
      (err: unknown) => {
        if (this.status !== 'open') return
        if (isRemoteReset(err)) this.onRemoteReset()
        else this.abort(err instanceof Error ? err : new Error(String(err)))
      },
    )
    return { sentBytes: buf.byteLength, canSendMore: false }
  }

  sendReset(): void {
    this.#reading = false
    this.#wakeReader()
    this.#native.resetWrite().catch(() => {})
    this.#native.stopRead().catch(() => {})
  }

  async sendCloseWrite(): Promise<void> {
    await this.#native.finishWrite()
  }

  async sendCloseRead(): Promise<void> {
    // No stop-sending: the read loop keeps going (discarding) so the remote's FIN is still seen.
    this.#wakeReader()
  }

  sendPause(): void {
    // the read loop checks readStatus before its next native read
  }

  sendResume(): void {
    this.#wakeReader()
  }

  #wakeReader(): void {
    const resume = this.#resumeRead
    this.#resumeRead = undefined
    resume?.()
  }
}

/**
 * A StreamMuxer over one native QUIC connection.
 *
 * `close()` ends every stream's write side and waits (bounded by the signal) until the remote ended them too, then
 * until the connection has sent nothing for a probe timeout, so the data and FINs in flight are acknowledged before
 * the caller closes the connection (a QUIC close discards unacknowledged data; quinn exposes no per-stream ack).
 */
export class QuicStreamMuxer
  extends TypedEventEmitter<{ stream: CustomEvent<QuicNativeStream> }>
  implements StreamMuxer<QuicNativeStream>
{
  readonly protocol = 'quic'
  streams: QuicNativeStream[] = []
  status: StreamMuxerStatus = 'open'
  readonly #native: NativeQuicConnection
  readonly #log: Logger

  constructor(native: NativeQuicConnection, maConn: MessageStream, log: Logger) {
    super()
    this.#native = native
    this.#log = log
    maConn.addEventListener('close', evt => {
      // the connection went away under open streams: they fail rather than look finished
      this.abort(evt.error ?? new Error('QUIC connection closed'))
    })
    void this.#acceptLoop()
  }

  async #acceptLoop(): Promise<void> {
    while (this.status === 'open') {
      let native: NativeQuicStream
      try {
        native = await this.#native.inboundStream()
      } catch {
        return // the connection closed
      }
      if (this.status !== 'open') {
        native.resetWrite().catch(() => {})
        native.stopRead().catch(() => {})
        return
      }
      const stream = this.#adopt(native, 'inbound')
      this.safeDispatchEvent('stream', { detail: stream })
    }
  }

  async createStream(options?: CreateStreamOptions): Promise<QuicNativeStream> {
    if (this.status !== 'open') throw new Error(`QUIC connection is ${this.status}`)
    options?.signal?.throwIfAborted()
    const opening = this.#native.outboundStream()
    const signal = options?.signal
    const native = await new Promise<NativeQuicStream>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal?.reason ?? new Error('aborted'))
        // QUIC may still grant the stream later (the remote's stream limit): reset it then
        opening.then(
          late => {
            late.resetWrite().catch(() => {})
            late.stopRead().catch(() => {})
          },
          () => {},
        )
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      opening.then(
        s => {
          signal?.removeEventListener('abort', onAbort)
          resolve(s)
        },
        (err: unknown) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      )
    })
    if (this.status !== 'open') {
      native.resetWrite().catch(() => {})
      throw new Error(`QUIC connection is ${this.status}`)
    }
    return this.#adopt(native, 'outbound')
  }

  #adopt(native: NativeQuicStream, direction: Direction): QuicNativeStream {
    const stream = new QuicNativeStream(native, direction, this.#log)
    this.streams.push(stream)
    stream.addEventListener(
      'close',
      () => {
        this.streams = this.streams.filter(s => s !== stream)
      },
      { once: true },
    )
    return stream
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closing'
    const ended = Promise.all(
      [...this.streams].map(async stream => {
        const done = new Promise<void>(resolve => {
          if (stream.status !== 'open') resolve()
          else stream.addEventListener('close', () => resolve(), { once: true })
        })
        await stream.close(options)
        await done
      }),
    )
    try {
      await raceAbort(ended, options?.signal)
      await raceAbort(this.#quiet(), options?.signal)
    } finally {
      for (const stream of [...this.streams]) stream.abort(new Error('QUIC connection closing'))
      this.streams = []
      this.status = 'closed'
    }
  }

  /** Resolves once the connection sent nothing for a probe timeout (≈ 3 RTT + ACK delay). */
  async #quiet(): Promise<void> {
    let last = -1
    while (true) {
      let sent: number
      let rtt: number
      try {
        sent = this.#native.stats().udpTxBytes
        rtt = this.#native.rtt()
      } catch {
        return // already closed
      }
      if (sent === last) return
      last = sent
      await new Promise(resolve => setTimeout(resolve, Math.max(3 * rtt + 25, 30)))
    }
  }

  abort(err: Error): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    for (const stream of [...this.streams]) stream.abort(err)
    this.streams = []
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      v => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
