import { generateKey, type PrivateKey, peerIdFromKey } from '@pnet/network'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createSwim,
  type Gossip,
  InvalidClusterArgumentError,
  InvalidSignatureError,
  MalformedClusterDataError,
  type SwimMessage,
} from '../src/index.js'
import { decodeMessage, encodeMessage } from '../src/internal.js'

let ka: PrivateKey
let kb: PrivateKey
let a: string
let b: string
beforeAll(async () => {
  ka = await generateKey()
  kb = await generateKey()
  a = peerIdFromKey(ka).toString()
  b = peerIdFromKey(kb).toString()
})

const strip = (m: SwimMessage): unknown => JSON.parse(JSON.stringify(m, (k, v) => (k === 'sig' ? undefined : v)))

describe('membership wire codec', () => {
  it('round-trips every message type, signed by the sender, statements signed by their signers', async () => {
    const aliveA: Gossip = {
      type: 'alive',
      id: a,
      address: '/ip4/198.18.0.1/tcp/4001',
      incarnation: 3,
      meta: { tags: { role: 'db', az: 'x' }, weight: 1.5 },
    }
    const suspectB: Gossip = { type: 'suspect', id: b, incarnation: 0, from: a }
    const messages: SwimMessage[] = [
      { type: 'ping', seq: 1, target: b, gossip: [aliveA, suspectB] },
      { type: 'ping-req', seq: 2 ** 40, target: b, targetAddress: '/memory/b', nack: true, gossip: [] },
      { type: 'ack', seq: 3, gossip: [{ type: 'leave', id: a, incarnation: 9 }] },
      { type: 'nack', seq: 4, gossip: [{ type: 'dead', id: b, incarnation: 2, from: a }] },
      { type: 'gossip', gossip: [aliveA] },
      { type: 'push-pull', reply: true, join: true, statements: [aliveA, suspectB] },
    ]
    for (const m of messages) {
      const bytes = await encodeMessage(m, { privateKey: ka })
      const got = await decodeMessage(bytes)
      expect(got.from).toBe(a)
      expect(strip(got.message)).toEqual(strip(m))
      for (const g of got.message.type === 'push-pull' ? got.message.statements : got.message.gossip) {
        expect(g.sig?.byteLength).toBe(64)
      }
    }
  })

  it('others relay a statement with its original signature; nobody can make one for another member', async () => {
    const aliveA: Gossip = { type: 'alive', id: a, address: '/memory/a', incarnation: 1, meta: { tags: {}, weight: 1 } }
    const fromA = await decodeMessage(await encodeMessage({ type: 'gossip', gossip: [aliveA] }, { privateKey: ka }))
    // b relays a's statement as received
    const relayed = await decodeMessage(await encodeMessage(fromA.message, { privateKey: kb }))
    expect(relayed.from).toBe(b)
    expect(strip(relayed.message)).toEqual(strip({ type: 'gossip', gossip: [aliveA] }))
    // b cannot state that a is alive (at a new address), nor that b was accused by a
    const forged: Gossip = { ...aliveA, address: '/memory/evil', incarnation: 2 }
    await expect(encodeMessage({ type: 'gossip', gossip: [forged] }, { privateKey: kb })).rejects.toThrow(
      InvalidClusterArgumentError,
    )
    // and pasting a's old signature onto a changed statement fails verification
    const sig = (fromA.message as { gossip: Gossip[] }).gossip[0]!.sig!
    const pasted = await encodeMessage({ type: 'gossip', gossip: [{ ...forged, sig }] }, { privateKey: kb })
    await expect(decodeMessage(pasted)).rejects.toThrow(InvalidSignatureError)
    const accusedByA: Gossip = { type: 'suspect', id: b, incarnation: 0, from: a, sig }
    const err = await decodeMessage(
      await encodeMessage({ type: 'gossip', gossip: [accusedByA] }, { privateKey: kb }),
    ).catch(e => e)
    expect(err).toBeInstanceOf(InvalidSignatureError)
    expect(err).toMatchObject({ name: 'InvalidSignatureError', code: 'ERR_INVALID_CLUSTER_SIGNATURE', signer: a })
  })

  it('a tampered envelope or a sender that did not sign fails with InvalidSignatureError', async () => {
    const bytes = await encodeMessage({ type: 'ack', seq: 5, gossip: [] }, { privateKey: ka })
    const tampered = bytes.slice()
    tampered[bytes.length - 70] = tampered[bytes.length - 70]! ^ 1 // inside the body
    await expect(decodeMessage(tampered)).rejects.toThrow(InvalidSignatureError)
    // same body and signature, sender replaced by b
    const swapped = new TextDecoder().decode(bytes).includes(a)
    expect(swapped).toBe(true)
    const other = bytes.slice()
    other.set(new TextEncoder().encode(b), 2) // version, length, then the sender ID (both 52 bytes)
    await expect(decodeMessage(other)).rejects.toThrow(InvalidSignatureError)
  })

  it('the decoder throws only MalformedClusterDataError or InvalidSignatureError on any input (fuzz)', async () => {
    const seed = await encodeMessage(
      {
        type: 'push-pull',
        reply: false,
        join: false,
        statements: [{ type: 'alive', id: a, address: '/m/a', incarnation: 1, meta: { tags: { k: 'v' }, weight: 1 } }],
      },
      { privateKey: ka },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const m = seed.slice()
            m[i] = m[i]! ^ x
            return m
          }),
          fc.nat(seed.length).map(n => seed.slice(0, n)),
        ),
        async bytes => {
          try {
            await decodeMessage(bytes)
          } catch (e) {
            expect(e instanceof MalformedClusterDataError || e instanceof InvalidSignatureError, String(e)).toBe(true)
          }
        },
      ),
      { numRuns: 400 },
    )
    // the rejections are specific
    await expect(decodeMessage(Uint8Array.of(2))).rejects.toMatchObject({ field: 'version' })
    await expect(decodeMessage(Uint8Array.of(...seed, 0))).rejects.toMatchObject({
      reason: expect.stringContaining('trailing'),
    })
  })

  it('honours an aborted signal', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(
      encodeMessage({ type: 'gossip', gossip: [] }, { privateKey: ka, signal: controller.signal }),
    ).rejects.toThrow()
    await expect(decodeMessage(Uint8Array.of(1), { signal: controller.signal })).rejects.toThrow()
  })

  it('two state machines talk through the codec: join, and a refutation is signed by the refuter', async () => {
    const ma = createSwim({ id: a, address: '/memory/a', now: 0, random: Math.random })
    const mb = createSwim({ id: b, address: '/memory/b', now: 0, random: Math.random })
    const wire = async (m: SwimMessage, key: PrivateKey) => decodeMessage(await encodeMessage(m, { privateKey: key }))
    const join = ma.join(0, [{ address: '/memory/b' }]).send[0]!
    const atB = await wire(join.message, ka)
    const reply = mb.receive(1, { id: atB.from, address: '/memory/a' }, atB.message).send[0]!
    const atA = await wire(reply.message, kb)
    ma.receive(2, { id: atA.from, address: '/memory/b' }, atA.message)
    expect(
      ma
        .members()
        .map(m => m.id)
        .sort(),
    ).toEqual([a, b].sort())
    expect(
      mb
        .members()
        .map(m => m.id)
        .sort(),
    ).toEqual([a, b].sort())
    // b accuses a; a refutes; the refutation travels signed by a
    const accuse = await wire({ type: 'gossip', gossip: [{ type: 'suspect', id: a, incarnation: 0, from: b }] }, kb)
    mb.receive(3, { id: b, address: '/memory/b' }, accuse.message) // b's own view: a is suspect
    ma.receive(3, { id: accuse.from, address: '/memory/b' }, accuse.message)
    expect(ma.incarnation).toBe(1)
    expect(mb.member(a)!.status).toBe('suspect')
    // a's next message to b carries the refutation; it is a's own statement, so a's key signs it
    for (let i = 0; i < 100 && mb.member(a)!.status !== 'alive'; i++) {
      for (const o of ma.tick(ma.nextDeadline()).send) {
        const got = await wire(o.message, ka)
        mb.receive(10 + i, { id: got.from, address: '/memory/a' }, got.message)
      }
    }
    expect(mb.member(a)).toMatchObject({ status: 'alive', incarnation: 1 })
  })
})
