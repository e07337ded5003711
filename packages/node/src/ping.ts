/**
 * libp2p ping (`/ipfs/ping/1.0.0`): the caller sends 32 random bytes, the responder echoes them; repeated on one
 * stream for a series. Every pnet node answers it, and can ping stock libp2p peers.
 */
import { randomBytes } from 'node:crypto'
import type { Stream } from '@pnet/network'
import { MAX_PINGS_PER_STREAM, PING_BYTES, PING_STREAM_IDLE_MS } from './limits.js'

/**
 * Answers pings on one stream until the caller closes it, goes idle or sends too many.
 *
 * @example
 * ```ts
 * registry.handle(PING_PROTOCOL, stream => servePing(stream), { header: false })
 * ```
 */
export async function servePing(stream: Stream): Promise<void> {
  let idle: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(idle)
    idle = setTimeout(
      () => stream.abort(new Error(`ping stream idle for ${PING_STREAM_IDLE_MS} ms`)),
      PING_STREAM_IDLE_MS,
    )
    idle.unref()
  }
  arm()
  try {
    await stream.sink(
      (async function* () {
        let pending = new Uint8Array(0)
        let answered = 0
        for await (const chunk of stream.source) {
          arm()
          const joined = new Uint8Array(pending.byteLength + chunk.byteLength)
          joined.set(pending)
          joined.set(chunk, pending.byteLength)
          let at = 0
          while (joined.byteLength - at >= PING_BYTES) {
            yield joined.slice(at, at + PING_BYTES)
            at += PING_BYTES
            if (++answered >= MAX_PINGS_PER_STREAM) return
          }
          pending = joined.slice(at)
        }
      })(),
    )
  } finally {
    clearTimeout(idle)
  }
}

/** Sends pings on one stream, one at a time. */
export class Pinger {
  readonly #stream: Stream
  readonly #reader: AsyncIterator<Uint8Array>
  readonly #out: { push(b: Uint8Array): void; end(): void }
  #buffer = new Uint8Array(0)

  constructor(stream: Stream) {
    this.#stream = stream
    this.#reader = stream.source[Symbol.asyncIterator]()
    const queue: Uint8Array[] = []
    let wake: (() => void) | undefined
    let ended = false
    this.#out = {
      push: b => {
        queue.push(b)
        wake?.()
      },
      end: () => {
        ended = true
        wake?.()
      },
    }
    void stream
      .sink(
        (async function* () {
          while (true) {
            const next = queue.shift()
            if (next !== undefined) {
              yield next
              continue
            }
            if (ended) return
            await new Promise<void>(r => {
              wake = r
            })
            wake = undefined
          }
        })(),
      )
      .catch(() => {})
  }

  /**
   * One round trip; resolves with the RTT in ms. Rejects when the echo is wrong, the stream ends or `timeoutMs`
   * passes.
   */
  async ping(timeoutMs: number): Promise<number> {
    const payload = randomBytes(PING_BYTES)
    const started = performance.now()
    this.#out.push(payload)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ping reply within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      const echo = await Promise.race([this.#read(), timeout])
      if (!Buffer.from(echo).equals(payload)) throw new Error('ping reply does not match the request')
      return performance.now() - started
    } finally {
      clearTimeout(timer)
    }
  }

  async #read(): Promise<Uint8Array> {
    while (this.#buffer.byteLength < PING_BYTES) {
      const next = await this.#reader.next()
      if (next.done === true) throw new Error('the peer closed the ping stream')
      const joined = new Uint8Array(this.#buffer.byteLength + next.value.byteLength)
      joined.set(this.#buffer)
      joined.set(next.value, this.#buffer.byteLength)
      this.#buffer = joined
    }
    const echo = this.#buffer.slice(0, PING_BYTES)
    this.#buffer = this.#buffer.slice(PING_BYTES)
    return echo
  }

  /** Ends the series (closes our side). */
  async close(): Promise<void> {
    this.#out.end()
    await this.#stream.close().catch(() => {})
  }
}
