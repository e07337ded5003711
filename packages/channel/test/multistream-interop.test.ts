/**
 * Wire compatibility of pnet's multistream-select with @libp2p/multistream-select (the implementation js-libp2p
 * uses): each side is driven by the library on one end of a libp2p stream pair and by pnet on the other.
 */
import { handle as mssHandle, select as mssSelect } from '@libp2p/multistream-select'
import { streamPair } from '@libp2p/utils'
import { generateKey, peerIdFromKey } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { decodeHeaderFrame, encodeHeaderFrame } from '../src/header.js'
import { createChannelRegistry, NoSuchChannelError, openChannel } from '../src/index.js'
import { StreamReader } from '../src/io.js'
import { lengthPrefixed } from '../src/wire.js'
import { fromLibp2p } from './libp2p-bridge.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

async function setup() {
  const [outbound, inbound] = await streamPair({ delay: 0 })
  const a = peerIdFromKey(await generateKey())
  const b = peerIdFromKey(await generateKey())
  return { outbound, inbound, a, b }
}

async function readText(stream: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>): Promise<string> {
  let out = ''
  for await (const c of stream) out += dec.decode(c instanceof Uint8Array ? c : c.subarray())
  return out
}

describe('@libp2p/multistream-select dials, pnet answers', () => {
  it('selects a header-less pnet channel and carries data both ways', async () => {
    const { outbound, inbound, a, b } = await setup()
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/echo/1.0.0', async s => s.sink(s.source), { header: false })
    registry.accept(fromLibp2p(inbound, a))
    expect(await mssSelect(outbound, '/echo/1.0.0')).toBe('/echo/1.0.0')
    outbound.send(enc.encode('over libp2p'))
    await outbound.close()
    expect(await readText(outbound)).toBe('over libp2p')
  })

  it('answers na to unknown protocols and lets the library fall back to the next', async () => {
    const { outbound, inbound, a, b } = await setup()
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/echo/1.0.0', async s => s.sink(s.source), { header: false })
    registry.accept(fromLibp2p(inbound, a))
    expect(await mssSelect(outbound, ['/echo/2.0.0', '/other', '/echo/1.0.0'])).toBe('/echo/1.0.0')
    expect(registry.stats().unknownChannel).toBe(2)
  })

  it('the library fails cleanly on a channel pnet does not have', async () => {
    const { outbound, inbound, a, b } = await setup()
    createChannelRegistry({ localPeer: b }).accept(fromLibp2p(inbound, a))
    await expect(mssSelect(outbound, '/nope/1.0.0')).rejects.toThrow(/could not negotiate/)
  })
})

describe('pnet dials, @libp2p/multistream-select answers', () => {
  it('selects a header-less channel and carries data both ways', async () => {
    const { outbound, inbound, a, b } = await setup()
    const served = mssHandle(inbound, ['/echo/1.0.0']).then(async protocol => {
      for await (const chunk of inbound) inbound.send(chunk)
      await inbound.close()
      return protocol
    })
    const ch = await openChannel(fromLibp2p(outbound, b), '/echo/1.0.0', { header: false })
    await ch.stream.sink([enc.encode('to libp2p')])
    expect(await readText(ch.stream.source)).toBe('to libp2p')
    expect(await served).toBe('/echo/1.0.0')
    void a
  })

  it('falls back through a list of protocol IDs as the library answers na', async () => {
    const { outbound, inbound, b } = await setup()
    const served = mssHandle(inbound, ['/echo/1.0.0'])
    const ch = await openChannel(fromLibp2p(outbound, b), ['/echo/3.0.0', '/echo/1.0.0'], { header: false })
    expect(ch.protocol).toBe('/echo/1.0.0')
    expect(await served).toBe('/echo/1.0.0')
  })

  it('NO_SUCH_CHANNEL when the library supports none', async () => {
    const { outbound, inbound, b } = await setup()
    const served = mssHandle(inbound, ['/echo/1.0.0']).catch((e: any) => e)
    const err = await openChannel(fromLibp2p(outbound, b), '/pnet/missing').catch((e: any) => e)
    expect(err).toBeInstanceOf(NoSuchChannelError)
    // the library then reads our optimistic header as a proposal and refuses it: libp2p's own lazy-select behaviour
    expect(await served).toBeInstanceOf(Error)
  })

  it('the optimistic pnet header arrives intact after the library selected the channel', async () => {
    const { outbound, inbound, b } = await setup()
    // a libp2p-based callee: the library selects, then it reads HELLO and answers ACCEPT by hand
    const served = mssHandle(inbound, ['/pnet/chat']).then(async () => {
      const reader = new StreamReader(
        (async function* () {
          for await (const c of inbound) yield c instanceof Uint8Array ? c : c.subarray()
        })(),
      )
      const hello = decodeHeaderFrame((await reader.readFrame(16384))!)
      inbound.send(
        lengthPrefixed(
          encodeHeaderFrame({ type: 'accept', version: 2, maxMessageSize: 4096, metadata: { by: 'libp2p' } }),
        ),
      )
      return hello
    })
    const ch = await openChannel(fromLibp2p(outbound, b), '/pnet/chat', {
      versions: { min: 1, max: 2 },
      metadata: { nick: 'ada' },
    })
    expect(ch).toMatchObject({ version: 2, metadata: { by: 'libp2p' }, remoteMaxMessageSize: 4096 })
    const hello = await served
    expect(hello).toMatchObject({ type: 'hello', versions: { min: 1, max: 2 }, metadata: { nick: 'ada' } })
  })
})
