/**
 * What agents tell the controller about a job. Reports travel as replies of the job's broadcast: up the same routing
 * tree the job came down (docs/protocol/ops.md), so an agent needs no route back to the controller. Relaying agents
 * carry them, so each batch of reports is signed by the agent that wrote it and numbered, and the controller keeps
 * only batches signed by the target they claim to come from, in order, once.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { OutputStream } from '../agent/executor.js'
import { canonicalBytes } from './canonical.js'
import { signEd25519, verifyEd25519 } from './ed25519.js'

export const JOB_CHANNEL = '/pnet/ops/job/1'
/** request/response: an agent says who it is and how many nodes it can reach */
export const INFO_CHANNEL = '/pnet/ops/info/1'
/** Stamped into artifact builds by esbuild (`npm run build:agent -- --version V`); absent in a workspace build. */
declare const __OPS_AGENT_VERSION__: string | undefined
/** The agent's version, as `ops-agent nodes` shows it: the package version, or the one an artifact build stamped. */
export const OPS_VERSION: string = typeof __OPS_AGENT_VERSION__ === 'string' ? __OPS_AGENT_VERSION__ : '0.1.0'

/** First byte of a signed report batch. */
export const REPORT_BATCH_VERSION = 1
const SIGNATURE_BYTES = 64
/** Signed bytes start with this, so a report signature can never pass for any other signature of the agent's key. */
const DOMAIN = new TextEncoder().encode('pnet-ops-report/1\n')

/** Final state of a job on one host, in the vocabulary of `--json`. */
export type HostStatus = 'ok' | 'failed' | 'timeout' | 'unreachable' | 'refused' | 'cancelled'

export interface AgentInfo {
  peer: string
  tags: Record<string, string>
  version: string
}

export interface InfoReply {
  info: AgentInfo
  /** nodes reachable through this agent for the one asking (the agent itself included, the asker not) */
  reachable: number
}

export type Report =
  | { type: 'hello'; info: AgentInfo }
  | { type: 'refused'; reason: string }
  | { type: 'skipped'; reason: string }
  | { type: 'started' }
  | { type: 'output'; stream: OutputStream; data: string }
  | {
      type: 'result'
      status: HostStatus
      exitCode: number | null
      signal: string | null
      durationMs: number
      error?: string
      truncated?: { stdout: number; stderr: number }
    }
  /** `ops-agent status`: what the host looks like (agent/status.ts) */
  | { type: 'status'; status: Record<string, unknown> }
  /** `ops-agent job ID`: the job is still running here; ask again later */
  | { type: 'running'; startedAt: number }

/** The report that ends a job that ran: its status on this host. */
export type FinalReport = Extract<Report, { type: 'result' }>

/** Reports of one job from one agent, numbered from 0 so none can be replayed or dropped unnoticed. */
export interface ReportBatch {
  job: string
  seq: number
  reports: Report[]
}

const TYPES = new Set(['hello', 'refused', 'skipped', 'started', 'output', 'result', 'status', 'running'])

export class ReportError extends Error {
  readonly code = 'ERR_BAD_REPORT'
  constructor(from: string, why: string) {
    super(`report from ${from} dropped: ${why}`)
    this.name = 'ReportError'
  }
}

/**
 * Signs and encodes a batch: `u8 version | 64-byte Ed25519 signature | canonical JSON of the batch`.
 *
 * @example
 * ```ts
 * await msg.reply(await encodeReportBatch(agentKey, { job, seq: 0, reports: [{ type: 'started' }] }))
 * ```
 */
export async function encodeReportBatch(key: PrivateKey, batch: ReportBatch): Promise<Uint8Array> {
  const body = canonicalBytes(batch)
  const sig = signEd25519(key, signedBytes(body))
  const out = new Uint8Array(1 + SIGNATURE_BYTES + body.byteLength)
  out[0] = REPORT_BATCH_VERSION
  out.set(sig, 1)
  out.set(body, 1 + SIGNATURE_BYTES)
  return out
}

/**
 * Checks that `bytes` is a batch signed by `from` (its peer ID carries its Ed25519 key) and well-formed; throws
 * ReportError saying why not.
 *
 * @example
 * ```ts
 * const batch = await decodeReportBatch(from, payload)   // from: the broadcast target the reply came for
 * ```
 */
export async function decodeReportBatch(from: PeerId, bytes: Uint8Array): Promise<ReportBatch> {
  const who = from.toString()
  if (bytes.byteLength < 1 + SIGNATURE_BYTES || bytes[0] !== REPORT_BATCH_VERSION) {
    throw new ReportError(who, 'not a version 1 report batch')
  }
  const key = from.publicKey
  if (key === undefined) throw new ReportError(who, 'its peer ID carries no public key')
  const sig = bytes.subarray(1, 1 + SIGNATURE_BYTES)
  const body = bytes.subarray(1 + SIGNATURE_BYTES)
  if (!verifyEd25519(key, signedBytes(body), sig)) throw new ReportError(who, 'bad signature')
  let batch: ReportBatch
  try {
    batch = JSON.parse(new TextDecoder().decode(body)) as ReportBatch
  } catch {
    throw new ReportError(who, 'not JSON')
  }
  if (
    typeof batch !== 'object' ||
    batch === null ||
    typeof batch.job !== 'string' ||
    !Number.isSafeInteger(batch.seq) ||
    batch.seq < 0 ||
    !Array.isArray(batch.reports)
  ) {
    throw new ReportError(who, 'malformed batch')
  }
  for (const r of batch.reports) {
    if (typeof r !== 'object' || r === null || !TYPES.has(r.type)) throw new ReportError(who, 'unknown report type')
    if (r.type === 'output' && (typeof r.data !== 'string' || (r.stream !== 'stdout' && r.stream !== 'stderr'))) {
      throw new ReportError(who, 'malformed output report')
    }
    if (r.type === 'status' && (typeof r.status !== 'object' || r.status === null)) {
      throw new ReportError(who, 'malformed status report')
    }
    if (r.type === 'hello' && (typeof r.info !== 'object' || r.info === null || r.info.peer !== who)) {
      throw new ReportError(who, 'hello names another peer')
    }
  }
  return batch
}

function signedBytes(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DOMAIN.byteLength + body.byteLength)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.byteLength)
  return out
}

/** True when `r` ends an agent's answer to a job. */
export function isFinal(r: Report): boolean {
  return r.type === 'result' || r.type === 'refused' || r.type === 'skipped' || r.type === 'running'
}
