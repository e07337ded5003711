/**
 * Jobs: what a controller asks agents to do, signed with the controller's Ed25519 key so that an agent can check who
 * asked whatever path the job took (a broadcast crosses other agents). Wire format: docs/protocol/ops.md.
 */
import { randomBytes } from 'node:crypto'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { JOB_TTL_MS, MAX_CLOCK_SKEW_MS, MAX_JOB_BYTES } from '../limits.js'
import { canonicalBytes } from './canonical.js'
import { signEd25519, verifyEd25519 } from './ed25519.js'

export const JOB_VERSION = 1

export interface CommandSpec {
  /** argv[0] is looked up on PATH; no shell unless you ask for one (`sh -c …`) */
  argv: string[]
  cwd?: string
  env?: Record<string, string>
  /** base64 */
  stdin?: string
  /** run as this user (the agent must be root) */
  runAs?: string
  timeoutMs: number
  killGraceMs: number
  /**
   * `ops-agent script`: base64 of a script the agent writes to a private temporary file (mode 0700) and runs as
   * `argv[0] … FILE scriptArgs…` (argv is the interpreter and its options).
   */
  script?: string
  scriptArgs?: string[]
}

/** `ops-agent push`: a file that follows the job as push tree streams (docs/protocol/ops.md, "Push"). */
export interface PushSpec {
  /** absolute destination path on the agent */
  path: string
  size: number
  /** hex sha256 of the whole file: the chunks are checked against it */
  sha256: string
  /** octal text, e.g. "0644" */
  mode: string
  owner?: string
  /** bytes per piece read and sent (per chunk broadcast on the fallback path); the last may be shorter */
  chunkBytes: number
  /** ms the agent waits for all bytes before it gives up (and removes its temporary file) */
  timeoutMs: number
}

/** `ops-agent upgrade`: the artifact travels as the job's `push` (its sha256 signed with the job). */
export interface UpgradeSpec {
  /** ms the new version has, after the old one exits, to start and rejoin the overlay before it is rolled back */
  healthTimeoutMs: number
}

/** `ops-agent uninstall`. */
export interface UninstallSpec {
  /** remove the data dir (key, job records, audit log) too */
  purge: boolean
}

export type JobKind = 'exec' | 'cancel' | 'inventory' | 'status' | 'push' | 'collect' | 'upgrade' | 'uninstall'

export interface Job {
  v: number
  /** 32 hex digits, unique per job; an agent executes a job ID at most once */
  id: string
  kind: JobKind
  /** peer ID of the controller that signed it */
  controller: string
  /** epoch ms */
  issuedAt: number
  /** epoch ms; agents refuse the job after this */
  expiresAt: number
  /** peer IDs the job is for (the controller resolved the selectors) */
  targets: string[]
  command?: CommandSpec
  /** for kind `cancel`: the job to stop */
  cancels?: string
  /** for kind `push` */
  push?: PushSpec
  /** for kind `collect`: the job whose stored result to send (`ops-agent job ID`) */
  collects?: string
  /** for kind `upgrade` (with `push` describing the artifact) */
  upgrade?: UpgradeSpec
  /** for kind `uninstall` */
  uninstall?: UninstallSpec
}

export interface SignedJob {
  job: Job
  /** libp2p public key protobuf of the controller, base64 */
  key: string
  /** Ed25519 signature over the canonical JSON of `job`, base64 */
  sig: string
}

export class JobRefusedError extends Error {
  readonly code = 'ERR_JOB_REFUSED'
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'JobRefusedError'
  }
}

/** A fresh job ID. */
export function newJobId(): string {
  return randomBytes(16).toString('hex')
}

/**
 * Signs a job with the controller's key.
 *
 * @example
 * ```ts
 * const signed = await signJob(controllerKey, { kind: 'exec', targets, command })
 * ```
 */
export async function signJob(
  key: PrivateKey,
  fields: Pick<Job, 'kind' | 'targets'> &
    Partial<
      Pick<Job, 'id' | 'command' | 'cancels' | 'push' | 'collects' | 'upgrade' | 'uninstall' | 'issuedAt' | 'expiresAt'>
    >,
): Promise<SignedJob> {
  const issuedAt = fields.issuedAt ?? Date.now()
  const job: Job = {
    v: JOB_VERSION,
    id: fields.id ?? newJobId(),
    kind: fields.kind,
    controller: peerIdFromPublicKey(key.publicKey).toString(),
    issuedAt,
    expiresAt: fields.expiresAt ?? issuedAt + JOB_TTL_MS,
    targets: fields.targets,
    command: fields.command,
    cancels: fields.cancels,
    push: fields.push,
    collects: fields.collects,
    upgrade: fields.upgrade,
    uninstall: fields.uninstall,
  }
  const sig = signEd25519(key, canonicalBytes(job))
  return {
    job,
    key: Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64'),
    sig: Buffer.from(sig).toString('base64'),
  }
}

export interface VerifyOptions {
  /** controller peer IDs this agent obeys */
  trusted: ReadonlySet<string>
  now?: number
}

/**
 * Checks a signed job: well-formed, signed by the key it carries, that key is the named controller, the controller
 * is trusted, and the job is current. Throws JobRefusedError with the reason.
 *
 * @example
 * ```ts
 * const job = await verifyJob(signed, { trusted: new Set([controllerId]) })
 * ```
 */
export async function verifyJob(signed: SignedJob, opts: VerifyOptions): Promise<Job> {
  const { job } = signed
  if (typeof job !== 'object' || job === null || job.v !== JOB_VERSION)
    throw new JobRefusedError('unsupported job version')
  if (typeof job.id !== 'string' || !/^[0-9a-f]{32}$/.test(job.id)) throw new JobRefusedError('malformed job ID')
  if (!Array.isArray(job.targets) || !job.targets.every(t => typeof t === 'string')) {
    throw new JobRefusedError('malformed targets')
  }
  let controller: string
  let valid: boolean
  try {
    const pub = publicKeyFromProtobuf(Buffer.from(signed.key, 'base64'))
    controller = peerIdFromPublicKey(pub).toString()
    valid = verifyEd25519(pub, canonicalBytes(job), Buffer.from(signed.sig, 'base64'))
  } catch {
    throw new JobRefusedError('malformed signature or key')
  }
  if (!valid) throw new JobRefusedError('bad signature')
  if (controller !== job.controller) throw new JobRefusedError('signed by a different key than the controller it names')
  if (!opts.trusted.has(controller)) throw new JobRefusedError(`controller ${controller} is not trusted`)
  const now = opts.now ?? Date.now()
  if (job.expiresAt < now) throw new JobRefusedError(`job expired ${now - job.expiresAt} ms ago`)
  if (job.issuedAt > now + MAX_CLOCK_SKEW_MS) throw new JobRefusedError('job issued in the future (clock skew?)')
  return job
}

/** Serialised size check before parsing untrusted bytes. */
export function decodeSignedJob(bytes: Uint8Array): SignedJob {
  if (bytes.byteLength > MAX_JOB_BYTES)
    throw new JobRefusedError(`job of ${bytes.byteLength} bytes exceeds ${MAX_JOB_BYTES}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new JobRefusedError('job is not JSON')
  }
  const p = parsed as Partial<SignedJob>
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.key !== 'string' ||
    typeof p.sig !== 'string' ||
    p.job === undefined
  ) {
    throw new JobRefusedError('not a signed job')
  }
  return p as SignedJob
}

export function encodeSignedJob(signed: SignedJob): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(signed))
}
