import { generateKey, peerIdFromKey } from '@pnet/network'
import { describe, expect, it } from 'vitest'
import { canonicalJson, decodeSignedJob, JobRefusedError, signJob, verifyJob } from '../src/index.js'

const command = { argv: ['true'], timeoutMs: 1000, killGraceMs: 100 }

describe('signed jobs', () => {
  it('canonical JSON sorts keys and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, d: { z: 1, y: 2 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"d":{"y":2,"z":1}}',
    )
  })

  it('verifies a job from a trusted controller and refuses every kind of bad one', async () => {
    const key = await generateKey()
    const id = peerIdFromKey(key).toString()
    const trusted = new Set([id])
    const signed = await signJob(key, { kind: 'exec', targets: ['a'], command })
    expect((await verifyJob(signed, { trusted })).id).toBe(signed.job.id)

    const refuse = async (s: typeof signed, reason: RegExp, opts = { trusted }) => {
      const err = await verifyJob(s, opts).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(JobRefusedError)
      expect((err as JobRefusedError).reason).toMatch(reason)
    }
    await refuse(
      { ...signed, job: { ...signed.job, command: { ...command, argv: ['rm', '-rf', '/'] } } },
      /bad signature/,
    )
    await refuse({ ...signed, job: { ...signed.job, targets: ['a', 'b'] } }, /bad signature/)
    await refuse(signed, /is not trusted/, { trusted: new Set(['someone-else']) })
    const other = await generateKey()
    const forged = await signJob(other, { kind: 'exec', targets: ['a'], command })
    await refuse({ ...forged, job: { ...forged.job, controller: id } }, /bad signature|different key/)
    const old = await signJob(key, {
      kind: 'exec',
      targets: ['a'],
      command,
      issuedAt: Date.now() - 3_600_000,
      expiresAt: Date.now() - 1,
    })
    await refuse(old, /expired/)
    const future = await signJob(key, { kind: 'exec', targets: ['a'], command, issuedAt: Date.now() + 3_600_000 })
    await refuse(future, /future/)
    await refuse({ ...signed, sig: 'AAAA' }, /bad signature|malformed/)
  })

  it('decodes only well-formed envelopes, bounded in size', () => {
    expect(() => decodeSignedJob(new TextEncoder().encode('{'))).toThrow('not JSON')
    expect(() => decodeSignedJob(new TextEncoder().encode('{"job":1}'))).toThrow('not a signed job')
    expect(() => decodeSignedJob(new Uint8Array(2 * 1024 * 1024))).toThrow('exceeds')
  })
})
