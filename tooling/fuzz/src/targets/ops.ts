/**
 * ops-agent's decoders: signed jobs as agents receive them (size check, JSON, shape, then signature, controller,
 * trust and expiry — every refusal a JobRefusedError), and the signed report batches agents send back (signature,
 * then shape — every refusal a ReportError).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  decodeReportBatch,
  decodeSignedJob,
  encodeReportBatch,
  encodeSignedJob,
  JobRefusedError,
  type ReportBatch,
  ReportError,
  type SignedJob,
  signJob,
  verifyJob,
} from 'ops-agent'
import { type FuzzTarget, PropertyViolation } from '../harness.js'

let trusted: Set<string> = new Set()
let refused: Uint8Array[] = []

const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))

const job: FuzzTarget = {
  name: 'ops-agent: signed jobs',
  expects: 'JobRefusedError',
  seeds: async () => {
    const key = await generateKeyPair('Ed25519')
    const stranger = await generateKeyPair('Ed25519')
    trusted = new Set([peerIdFromPrivateKey(key).toString()])
    const target = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const exec = { kind: 'exec', targets: [target], command: { argv: ['sh', '-c', 'echo hi'] } } as Parameters<
      typeof signJob
    >[1]
    const good = await signJob(key, exec)
    const other = (fields: Partial<SignedJob['job']>): SignedJob => ({ ...good, job: { ...good.job, ...fields } })
    // well-formed jobs every check must refuse, as bases for the mutator: the fields those checks read
    refused = [
      encodeSignedJob(await signJob(key, { ...exec, issuedAt: 1, expiresAt: 2 })),
      encodeSignedJob(await signJob(key, { ...exec, issuedAt: Date.now() + 3_600_000 })),
      encodeSignedJob(await signJob(stranger, exec)),
      encodeSignedJob(other({ targets: 'all' as unknown as string[] })),
      encodeSignedJob(other({ v: 2 as 1 })),
      encodeSignedJob(other({ id: '../../etc' })),
      enc({ ...good, key: 'not base64 at all' }),
      enc({ ...good, sig: '' }),
      enc({ job: null, key: good.key, sig: good.sig }),
      enc([good]),
    ]
    return [encodeSignedJob(good), encodeSignedJob(await signJob(key, { kind: 'inventory', targets: [] }))]
  },
  corpus: async () => refused,
  async run(input) {
    await verifyJob(decodeSignedJob(input), { trusted })
  },
  expected: err => err instanceof JobRefusedError,
}

let agentKey: PrivateKey | undefined

async function agent(): Promise<PrivateKey> {
  agentKey ??= await generateKeyPair('Ed25519')
  return agentKey
}

function sampleBatches(peer: string): ReportBatch[] {
  return [
    {
      job: 'a'.repeat(32),
      seq: 0,
      reports: [
        { type: 'hello', info: { peer, tags: { hostname: 'h1' }, version: '0.1.0' } },
        { type: 'started' },
        { type: 'output', stream: 'stdout', data: 'aGk=' },
      ],
    } as unknown as ReportBatch,
    {
      job: 'a'.repeat(32),
      seq: 1,
      reports: [{ type: 'result', status: 'ok', exitCode: 0, signal: null, durationMs: 12 }],
    } as unknown as ReportBatch,
  ]
}

/** Signed batches with damage anywhere: the signature must catch it (ReportError), nothing else may escape. */
const reportBytes: FuzzTarget = {
  name: 'ops-agent: report batches (signed bytes)',
  expects: 'ReportError',
  seeds: async () => {
    const key = await agent()
    const peer = peerIdFromPrivateKey(key).toString()
    return Promise.all(sampleBatches(peer).map(b => encodeReportBatch(key, b)))
  },
  async run(input) {
    await decodeReportBatch(peerIdFromPrivateKey(await agent()), input)
  },
  expected: err => err instanceof ReportError,
}

/**
 * The shape checks behind the signature: a damaged batch body, re-signed by the agent (a buggy or hostile agent
 * signs whatever it likes), must decode to a well-formed batch or be refused with ReportError.
 */
const reportShape: FuzzTarget = {
  name: 'ops-agent: report batches (shape, validly signed)',
  expects: 'ReportError',
  seeds: async () => {
    const peer = peerIdFromPrivateKey(await agent()).toString()
    return sampleBatches(peer).map(b => new TextEncoder().encode(JSON.stringify(b)))
  },
  async run(input) {
    let value: unknown
    try {
      value = JSON.parse(new TextDecoder().decode(input))
    } catch {
      value = { job: Buffer.from(input).toString('latin1'), seq: input.byteLength, reports: [...input] }
    }
    const key = await agent()
    const batch = await decodeReportBatch(peerIdFromPrivateKey(key), await encodeReportBatch(key, value as ReportBatch))
    if (typeof batch.job !== 'string' || !Array.isArray(batch.reports)) {
      throw new PropertyViolation('a malformed batch was accepted')
    }
  },
  expected: err => err instanceof ReportError,
}

export const opsTargets: FuzzTarget[] = [job, reportBytes, reportShape]
