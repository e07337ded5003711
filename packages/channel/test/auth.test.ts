/**
 * Auth policies end to end (over the memory transport; the handshake is the same on every adapter) and the
 * capability token checks one by one.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey, peerIdFromKey } from '@pnet/network'
import { afterAll, describe, expect, it } from 'vitest'
import {
  type AuthPolicy,
  allOf,
  allowPeers,
  anyOf,
  CapabilityError,
  capabilityAuth,
  capabilityCredential,
  createChannelRegistry,
  decodeCapability,
  decodeCapabilityText,
  encodeCapabilityText,
  issueCapability,
  type OpenChannelOptions,
  openChannel,
  presharedKeyAuth,
  presharedKeyCredential,
  UnauthorizedError,
  verifyCapability,
} from '../src/index.js'
import { adapters, closeAll, type Pair, pair } from './helpers.js'
import { memoryStreamPair } from './memory-stream.js'

afterAll(closeAll)
const memoryAdapter = adapters.find(a => a.name === 'memory')!
const KEY = 'the cluster cookie, long enough'

async function serve(
  policy: AuthPolicy,
  channel = '/pnet/secure',
): Promise<Pair & { claims: Array<Record<string, string>> }> {
  const p = await pair(memoryAdapter)
  const claims: Array<Record<string, string>> = []
  p.registry.handle(
    channel,
    async (stream, ctx) => {
      claims.push({ ...ctx.auth.claims, policy: ctx.auth.policy })
      await stream.sink(stream.source)
    },
    { auth: policy },
  )
  return { ...p, claims }
}

async function open(p: Pair, options: OpenChannelOptions = {}, channel = '/pnet/secure') {
  const ch = await openChannel(await p.connection.newStream(), channel, { localPeer: p.client.peerId, ...options })
  await ch.stream.close()
  return ch
}

describe('pre-shared key', () => {
  it('admits a caller with the key; the key never crosses the wire', async () => {
    const p = await serve(presharedKeyAuth({ key: KEY }))
    await open(p, { credentials: [presharedKeyCredential({ key: KEY })] })
    expect(p.claims).toEqual([{ policy: 'psk' }])
    // every byte both ends wrote, on an in-process stream pair
    const a = p.client.peerId
    const b = p.server.peerId
    const [caller, callee] = memoryStreamPair(a, b)
    const registry = createChannelRegistry({ localPeer: b })
    registry.handle('/pnet/secure', async s => s.sink(s.source), { auth: presharedKeyAuth({ key: KEY }) })
    registry.accept(callee)
    const ch = await openChannel(caller, '/pnet/secure', {
      localPeer: a,
      credentials: [presharedKeyCredential({ key: KEY })],
    })
    await ch.stream.close()
    const wire = Buffer.concat([...caller.writes, ...callee.writes])
    expect(wire.byteLength).toBeGreaterThan(64)
    expect(wire.includes(Buffer.from(KEY))).toBe(false)
    expect(wire.includes(Buffer.from(KEY.slice(0, 8)))).toBe(false)
  })

  it('refuses a wrong key, and a caller without one', async () => {
    const p = await serve(presharedKeyAuth({ key: KEY }))
    // with a different key the callee's own proof fails first: the caller refuses to go on
    const wrong = await open(p, { credentials: [presharedKeyCredential({ key: 'another cookie, also long' })] }).catch(
      e => e,
    )
    expect(wrong).toBeInstanceOf(UnauthorizedError)
    expect(wrong.reason).toBe('the callee failed to prove it holds the pre-shared key')
    const none = await open(p).catch((e: any) => e)
    expect(none).toBeInstanceOf(UnauthorizedError)
    expect(none.reason).toBe('no pre-shared key credential offered')
  })

  it('a caller that answers the challenge wrongly is refused by the callee', async () => {
    const p = await serve(presharedKeyAuth({ key: KEY }))
    const liar = { scheme: 'psk', present: () => new Uint8Array(0), respond: () => new Uint8Array(32) }
    const err = await open(p, { credentials: [liar] }).catch((e: any) => e)
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.reason).toBe('pre-shared key proof does not match')
  })

  it('refuses keys shorter than 16 bytes', () => {
    expect(() => presharedKeyAuth({ key: 'short' })).toThrow(/at least 16 bytes/)
  })
})

describe('capability tokens', () => {
  it('admits the subject, with the claims, for the channel (and a /* prefix)', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const p = await serve(capabilityAuth({ issuers: [issuer.publicKey] }), '/pnet/ops/exec')
    const token = await issueCapability({
      issuer,
      subject: p.client.peerId,
      channel: '/pnet/ops/*',
      claims: { role: 'operator' },
    })
    await open(p, { credentials: [capabilityCredential(encodeCapabilityText(token))] }, '/pnet/ops/exec')
    expect(p.claims).toEqual([{ role: 'operator', policy: 'capability' }])
  })

  it('refuses expired, not yet valid, foreign, tampered, untrusted and replayed tokens, saying why', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const stranger = await generateKeyPair('Ed25519')
    let now = Date.now()
    const policy = capabilityAuth({ issuers: [issuer.publicKey], now: () => now, clockSkewMs: 1_000 })
    const p = await serve(policy)
    const subject = p.client.peerId
    const reason = async (token: Uint8Array) => {
      const err = await open(p, { credentials: [capabilityCredential(token)] }).catch((e: any) => e)
      expect(err).toBeInstanceOf(UnauthorizedError)
      return err.reason as string
    }
    const ok = { issuer, subject, channel: '/pnet/secure' }
    expect(await reason(await issueCapability({ ...ok, expires: now - 5_000, notBefore: now - 10_000 }))).toMatch(
      /expired at/,
    )
    expect(await reason(await issueCapability({ ...ok, notBefore: now + 60_000, ttlMs: 120_000 }))).toMatch(
      /not valid before/,
    )
    const someoneElse = peerIdFromKey(await generateKey())
    expect(await reason(await issueCapability({ ...ok, subject: someoneElse }))).toBe(
      `capability token refused: issued to ${someoneElse}, presented by ${subject}`,
    )
    expect(await reason(await issueCapability({ ...ok, channel: '/pnet/other' }))).toMatch(
      /grants \/pnet\/other, not \/pnet\/secure/,
    )
    expect(await reason(await issueCapability({ ...ok, issuer: stranger }))).toMatch(/issuer is not trusted/)
    const tampered = await issueCapability({ ...ok, claims: { role: 'viewer' } })
    const at = Buffer.from(tampered).indexOf('viewer')
    tampered.set(Buffer.from('admin!'), at)
    expect(await reason(tampered)).toMatch(/bad signature/)
    expect(await reason(await issueCapability({ ...ok, audience: [someoneElse] }))).toMatch(/not in the token audience/)

    const once = await issueCapability({ ...ok, singleUse: true })
    await open(p, { credentials: [capabilityCredential(once)] })
    expect(await reason(once)).toMatch(/single-use token already used/)

    const revocable = await issueCapability(ok)
    await open(p, { credentials: [capabilityCredential(revocable)] })
    policy.revoke(decodeCapability(revocable).id)
    expect(await reason(revocable)).toMatch(/revoked/)

    const short = await issueCapability({ ...ok, ttlMs: 10_000 })
    await open(p, { credentials: [capabilityCredential(short)] })
    now += 12_000
    expect(await reason(short)).toMatch(/expired/)
    expect(await reason(new Uint8Array([1, 2, 3]))).toMatch(/malformed token/)
  })

  it('verifyCapability checks a token without a channel, and trusts issuers given as peer IDs', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const issuerId = peerIdFromKey(issuer)
    const subject = peerIdFromKey(await generateKey())
    const token = await issueCapability({ issuer, subject, channel: '/pnet/x', singleUse: true })
    const checked = await verifyCapability(token, {
      issuers: [issuerId.toString()],
      remotePeer: subject,
      channel: '/pnet/x',
    })
    expect(checked).toMatchObject({ subject: subject.toString(), channel: '/pnet/x', singleUse: true })
    await expect(
      verifyCapability(token, { issuers: [issuerId], remotePeer: subject, channel: '/pnet/y' }),
    ).rejects.toThrow(CapabilityError)
    expect(() => decodeCapabilityText('not base64url!')).toThrow(CapabilityError)
  })

  it('refuses to issue with non-Ed25519 keys or an empty window', async () => {
    const subject = peerIdFromKey(await generateKey())
    const secp = await generateKeyPair('secp256k1')
    await expect(issueCapability({ issuer: secp, subject, channel: '/pnet/x' })).rejects.toThrow(/Ed25519/)
    const ed = await generateKeyPair('Ed25519')
    await expect(
      issueCapability({ issuer: ed, subject, channel: '/pnet/x', expires: 1, notBefore: 2 }),
    ).rejects.toThrow(/expires before/)
  })
})

describe('composing policies', () => {
  it('anyOf: a token holder gets in without the psk round trip; reasons are joined when all deny', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const p = await serve(anyOf(presharedKeyAuth({ key: KEY }), capabilityAuth({ issuers: [issuer.publicKey] })))
    const token = await issueCapability({ issuer, subject: p.client.peerId, channel: '/pnet/secure' })
    await open(p, { credentials: [capabilityCredential(token)] })
    await open(p, { credentials: [presharedKeyCredential({ key: KEY })] })
    expect(p.claims.map(c => c.policy)).toEqual(['capability', 'psk'])
    const err = await open(p).catch((e: any) => e)
    expect(err.reason).toBe('psk: no pre-shared key credential offered; capability: no capability token offered')
  })

  it('allOf: every policy must allow', async () => {
    const p = await pair(memoryAdapter)
    p.registry.handle('/pnet/both', async s => s.sink(s.source), {
      auth: allOf(allowPeers([p.client.peerId]), presharedKeyAuth({ key: KEY })),
    })
    await open(p, { credentials: [presharedKeyCredential({ key: KEY })] }, '/pnet/both')
    const err = await open(p, {}, '/pnet/both').catch((e: any) => e)
    expect(err.reason).toBe('psk: no pre-shared key credential offered')
  })

  it('a policy that throws refuses the caller without leaking the error', async () => {
    const p = await serve({
      name: 'broken',
      authorize: () => {
        throw new Error('database password is hunter2')
      },
    })
    const err = await open(p).catch((e: any) => e)
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.reason).toBe('authorization failed')
  })

  it('header-less channels accept only policies that need no header, and deny with na', async () => {
    const p = await pair(memoryAdapter)
    expect(() =>
      p.registry.handle('/x/1', async () => {}, { header: false, auth: presharedKeyAuth({ key: KEY }) }),
    ).toThrow(/needs the pnet header/)
    p.registry.handle('/x/1', async s => s.sink(s.source), { header: false, auth: allowPeers([]) })
    const err = await openChannel(await p.connection.newStream(), '/x/1', { header: false }).catch((e: any) => e)
    expect(err.code).toBe('ERR_NO_SUCH_CHANNEL')
    expect(p.registry.stats().channels[0]!.rejected.UNAUTHORIZED).toBe(1)
  })
})
