/**
 * A watchman on the decrypted byte stream in front of yamux.
 *
 * @chainsafe/libp2p-yamux buffers a data frame until all of it has arrived, before checking it against the stream's
 * receive window; a header announcing a 4 GiB frame would make it buffer whatever the peer sends. This scanner reads
 * only the 12-byte yamux headers (version, type, flags, stream ID, length) as the bytes go by and cuts the
 * connection at the header of an oversized or malformed frame, before anything is buffered.
 */
import type { MessageStream } from '@libp2p/interface'
import { ProtocolViolationError } from './errors.js'
import { MAX_YAMUX_FRAME_BYTES } from './limits.js'

const HEADER = 12
const DATA = 0
const GO_AWAY = 3

/** Starts watching `channel`; call it before the muxer subscribes so a violation is seen first. */
export function guardYamuxFrames(channel: MessageStream, peer: string): void {
  const header = new Uint8Array(HEADER)
  let have = 0
  let skip = 0
  let failed = false

  const scan = (buf: Uint8Array): void => {
    let pos = 0
    while (pos < buf.byteLength && !failed) {
      if (skip > 0) {
        const n = Math.min(skip, buf.byteLength - pos)
        skip -= n
        pos += n
        continue
      }
      const n = Math.min(HEADER - have, buf.byteLength - pos)
      header.set(buf.subarray(pos, pos + n), have)
      have += n
      pos += n
      if (have < HEADER) return
      have = 0
      const version = header[0]
      const type = header[1] ?? 255
      const length =
        (header[8] ?? 0) * 2 ** 24 + (((header[9] ?? 0) << 16) | ((header[10] ?? 0) << 8) | (header[11] ?? 0))
      if (version !== 0 || type > GO_AWAY) {
        fail(`bad yamux header (version ${version}, type ${type})`)
        return
      }
      if (type === DATA) {
        if (length > MAX_YAMUX_FRAME_BYTES) {
          fail(`yamux data frame of ${length} bytes exceeds the ${MAX_YAMUX_FRAME_BYTES}-byte limit`)
          return
        }
        skip = length
      }
    }
  }

  const fail = (reason: string): void => {
    failed = true
    channel.abort(new ProtocolViolationError(peer, reason))
  }

  channel.addEventListener('message', evt => {
    if (failed) return
    const data = evt.data
    if (data instanceof Uint8Array) scan(data)
    else for (const buf of data) scan(buf)
  })
}
