/**
 * messages(): it-length-prefixed framing with the limit enforced on the length prefix, codecs, typed errors.
 */
import { generateKey, peerIdFromKey, type Stream } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { ChannelProtocolError, jsonCodec, MessageTooLargeError, messages } from '../src/index.js'
import { lengthPrefixed } from '../src/wire.js'
import { memoryStreamPair } from './memory-stream.js'

const peer = peerIdFromKey(await generateKey())

/** A read-only stream over fixed chunks that counts how many bytes were pulled. */
function fixed(chunks: Uint8Array[], endless = false) {
  let pulled = 0
  const stream = {
    remotePeer: peer,
    labels: { channel: '/pnet/f' },
    source: (async function* () {
      for (const c of chunks) {
        pulled += c.byteLength
        yield c
      }
      while (endless) {
        pulled += 65536
        yield new Uint8Array(65536)
      }
    })(),
  } as unknown as Stream
  return { stream, pulled: () => pulled }
}

describe('messages()', () => {
  it('round-trips JSON messages and ends with the stream', async () => {
    const [a, b] = memoryStreamPair(peer, peer)
    const out = messages(a, { codec: jsonCodec<{ n: number }>() })
    const inn = messages(b, { codec: jsonCodec<{ n: number }>() })
    for (let n = 0; n < 3; n++) await out.write({ n })
    await out.end()
    const got: number[] = []
    for await (const m of inn) got.push(m.n)
    expect(got).toEqual([0, 1, 2])
  })

  it('refuses an oversized message on its length prefix, without reading the body', async () => {
    const { stream, pulled } = fixed([Uint8Array.of(0x80, 0x80, 0x80, 0x01)], true) // declares 2 MiB, then endless data
    const err = await messages(stream, { maxMessageSize: 1024 })
      .read()
      .catch((e: any) => e)
    expect(err).toBeInstanceOf(MessageTooLargeError)
    expect(err.message).toBe(`channel /pnet/f on ${peer}: received a message of 2097152 bytes, over the limit of 1024`)
    expect(pulled()).toBe(4)
  })

  it('a stream that ends inside a message, a non-minimal length and a malformed message are protocol errors', async () => {
    const cut = await messages(fixed([Uint8Array.of(5, 1, 2)]).stream)
      .read()
      .catch((e: any) => e)
    expect(cut).toBeInstanceOf(ChannelProtocolError)
    expect(cut.reason).toBe('stream ended in the middle of a message')
    const loose = await messages(fixed([Uint8Array.of(0x81, 0x00, 1)]).stream)
      .read()
      .catch((e: any) => e)
    expect(loose.reason).toBe('varint is not minimally encoded')
    const json: any = await messages(fixed([lengthPrefixed(Uint8Array.of(0x7b))]).stream, { codec: jsonCodec() })
      .read()
      .catch((e: any) => e)
    expect(json.reason).toMatch(/^malformed json message: /)
  })

  it('refuses to send a message over the remote limit, and sends nothing', async () => {
    const [a, b] = memoryStreamPair(peer, peer)
    const out = messages(a, { remoteMaxMessageSize: 10 })
    await expect(out.write(new Uint8Array(11))).rejects.toMatchObject({
      code: 'ERR_MESSAGE_TOO_LARGE',
      size: 11,
      limit: 10,
    })
    await out.write(new Uint8Array(10))
    await out.end()
    const got: Uint8Array[] = []
    for await (const m of messages(b)) got.push(m)
    expect(got.map(m => m.byteLength)).toEqual([10])
  })
})
