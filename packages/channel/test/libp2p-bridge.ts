/**
 * A libp2p 3.x Stream seen through pnet's Stream interface, so @libp2p/multistream-select can run on one end of a
 * libp2p stream pair while pnet's channel code runs on the other (test-only glue; the network package has the real
 * adapter for yamux streams).
 */
import type { Stream as Libp2pStream } from '@libp2p/interface'
import type { AbortOptions, Chunk, HalfStatus, PeerId, Source, Stream, StreamStats, StreamStatus } from '@pnet/network'

export function fromLibp2p(inner: Libp2pStream, remotePeer: PeerId): Stream {
  const stats: StreamStats = { bytesIn: 0, bytesOut: 0, opened: Date.now() }
  let readStatus: HalfStatus = 'open'
  let writeStatus: HalfStatus = 'open'
  let status: StreamStatus = 'open'
  let resolveClosed!: (err: Error | undefined) => void
  const closed = new Promise<Error | undefined>(resolve => {
    resolveClosed = resolve
  })
  inner.addEventListener('close', evt => {
    const error = (evt as Event & { error?: Error }).error
    status = error === undefined ? 'closed' : 'reset'
    resolveClosed(error)
  })
  async function* read(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of inner) {
        const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        stats.bytesIn += bytes.byteLength
        yield bytes
      }
    } finally {
      readStatus = 'closed'
    }
  }
  const source = read()
  return {
    id: inner.id,
    direction: inner.direction,
    remotePeer,
    labels: {},
    stats,
    closed,
    get status() {
      return status
    },
    get readStatus() {
      return readStatus
    },
    get writeStatus() {
      return writeStatus
    },
    source,
    async sink(src: Source<Chunk>) {
      for await (const chunk of src) {
        stats.bytesOut += chunk.byteLength
        if (!inner.send(chunk)) {
          await new Promise<void>((resolve, reject) => {
            inner.addEventListener('drain', () => resolve(), { once: true })
            inner.addEventListener('close', () => reject(new Error('closed while writing')), { once: true })
          })
        }
      }
      writeStatus = 'closed'
      await inner.close()
    },
    async closeWrite(options?: AbortOptions) {
      writeStatus = 'closed'
      await inner.close(options)
    },
    async close(options?: AbortOptions) {
      readStatus = 'closed'
      writeStatus = 'closed'
      await inner.close(options)
    },
    abort(err: Error) {
      inner.abort(err)
    },
  }
}
