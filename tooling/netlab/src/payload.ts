/**
 * Deterministic pseudo-random payloads and their checksums, so both ends of a transfer agree on what was sent
 * without shipping the expected bytes around.
 */
import { createHash } from 'node:crypto'

/** `total` bytes from a xorshift32 stream seeded with `seed`, in chunks of `chunk` bytes. */
export function* payloadChunks(total: number, seed: number, chunk = 64 * 1024): Generator<Uint8Array> {
  let x = seed >>> 0 || 0x9e3779b9
  for (let sent = 0; sent < total; sent += chunk) {
    const n = Math.min(chunk, total - sent)
    const out = new Uint8Array(n)
    const view = new DataView(out.buffer)
    let i = 0
    for (; i + 4 <= n; i += 4) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      view.setUint32(i, x >>> 0)
    }
    for (; i < n; i++) out[i] = i & 255
    yield out
  }
}

/** sha256 (hex) of the payload `payloadChunks(total, seed)` yields. */
export function payloadSha256(total: number, seed: number): string {
  const h = createHash('sha256')
  for (const c of payloadChunks(total, seed)) h.update(c)
  return h.digest('hex')
}
