/**
 * Broadcast protocol frames (docs/protocol/router.md, "Broadcast"): a parent sends one BROADCAST to each child of
 * the shortest-path tree, naming the targets below that child; the child streams back the REPLY frames its targets'
 * handlers send (each naming its target by index in the list it received), then one REPORT that accounts for each
 * of those targets.
 */
import { Reader, Writer } from './bytes.js'
import { MalformedMessageError } from './errors.js'
import { MAX_PEER_ID_BYTES, type PeerKey, peerKeyFromBytes } from './peer-key.js'
import { cutAtWord, truncateUtf8 } from './relay-codec.js'

export const BROADCAST_MESSAGE = 0x01
export const BROADCAST_REPORT = 0x02
export const BROADCAST_REPLY = 0x03

export const BROADCAST_ID_BYTES = 16
/** Longest broadcast channel name, bytes of UTF-8. */
export const MAX_BROADCAST_CHANNEL_BYTES = 256
/** Longest failure reason in a report, bytes of UTF-8. */
export const MAX_BROADCAST_REASON_BYTES = 256

/** Outcome codes on the wire; 0 is delivered. */
export const BROADCAST_OUTCOMES = Object.freeze({
  DELIVERED: 0,
  NO_ROUTE: 1,
  HOP_LIMIT: 2,
  NO_HANDLER: 3,
  HANDLER_FAILED: 4,
  TIMEOUT: 5,
  LINK_FAILED: 6,
  REFUSED: 7,
  LOOP: 8,
})

export type BroadcastOutcome = keyof typeof BROADCAST_OUTCOMES
/** Why a target was not reached. */
export type BroadcastFailureCode = Exclude<BroadcastOutcome, 'DELIVERED'>

const OUTCOME_NAMES = new Map<number, BroadcastOutcome>(
  Object.entries(BROADCAST_OUTCOMES).map(([k, v]) => [v, k as BroadcastOutcome]),
)

export interface BroadcastFrame {
  id: Uint8Array
  origin: PeerKey
  channel: string
  /** hops this copy may still travel */
  hopLimit: number
  /** hops travelled so far */
  hops: number
  /** ms the receiver has to send its report */
  deadlineMs: number
  targets: PeerKey[]
  payload: Uint8Array
}

export interface ReportEntry {
  /** index into the targets of the BROADCAST this answers */
  index: number
  outcome: BroadcastOutcome
  reason: string
}

/** Largest BROADCAST frame for the given limits. */
export function maxBroadcastFrameBytes(maxTargets: number, maxPayload: number): number {
  return 64 + MAX_PEER_ID_BYTES + MAX_BROADCAST_CHANNEL_BYTES + maxTargets * (MAX_PEER_ID_BYTES + 1) + maxPayload
}

/** What a target's handler sent back, on its way to the origin. */
export interface ReplyFrame {
  /** index into the targets of the BROADCAST this answers */
  index: number
  payload: Uint8Array
}

/** Largest REPLY frame for a reply payload limit. */
export function maxReplyFrameBytes(maxReply: number): number {
  return 16 + maxReply
}

/** Largest REPORT frame answering `targets` targets. */
export function maxReportFrameBytes(targets: number): number {
  return 16 + targets * (8 + MAX_BROADCAST_REASON_BYTES)
}

export function encodeBroadcast(f: BroadcastFrame): Uint8Array {
  const w = new Writer(64 + f.targets.length * 40 + f.payload.byteLength)
  w.u8(BROADCAST_MESSAGE).bytes(f.id).lp(f.origin.bytes).lp(truncateUtf8(f.channel, MAX_BROADCAST_CHANNEL_BYTES))
  w.u16(f.hopLimit).u16(f.hops).u32(f.deadlineMs).varint(f.targets.length)
  for (const t of f.targets) w.lp(t.bytes)
  return w.lp(f.payload).finish()
}

export function decodeBroadcast(frame: Uint8Array, maxTargets: number, maxPayload: number): BroadcastFrame {
  const what = 'broadcast message'
  const r = new Reader(frame, what)
  const kind = r.u8('kind')
  if (kind !== BROADCAST_MESSAGE) throw new MalformedMessageError(what, `kind 0x${kind.toString(16)}`)
  const id = r.bytes(BROADCAST_ID_BYTES, 'id').slice()
  const origin = key(r.lp('origin', MAX_PEER_ID_BYTES), what)
  const channel = r.string('channel', MAX_BROADCAST_CHANNEL_BYTES)
  const hopLimit = r.u16('hop limit')
  const hops = r.u16('hops')
  const deadlineMs = r.u32('deadline')
  const count = r.varint('target count', maxTargets)
  const targets: PeerKey[] = []
  for (let i = 0; i < count; i++) targets.push(key(r.lp('target', MAX_PEER_ID_BYTES), what))
  const payload = r.lp('payload', maxPayload).slice()
  r.end()
  return { id, origin, channel, hopLimit, hops, deadlineMs, targets, payload }
}

export function encodeReport(entries: readonly ReportEntry[]): Uint8Array {
  const w = new Writer(8 + entries.length * 4)
  w.u8(BROADCAST_REPORT).varint(entries.length)
  for (const e of entries) {
    w.varint(e.index).u8(BROADCAST_OUTCOMES[e.outcome])
    if (e.outcome !== 'DELIVERED') w.lp(cutAtWord(e.reason, MAX_BROADCAST_REASON_BYTES))
  }
  return w.finish()
}

export function encodeReply(f: ReplyFrame): Uint8Array {
  const w = new Writer(16 + f.payload.byteLength)
  return w.u8(BROADCAST_REPLY).varint(f.index).lp(f.payload).finish()
}

/** Decodes a REPLY to a BROADCAST of `targets` targets carrying at most `maxPayload` bytes. */
export function decodeReply(frame: Uint8Array, targets: number, maxPayload: number): ReplyFrame {
  const what = 'broadcast reply'
  const r = new Reader(frame, what)
  const kind = r.u8('kind')
  if (kind !== BROADCAST_REPLY) throw new MalformedMessageError(what, `kind 0x${kind.toString(16)}`)
  if (targets === 0) throw new MalformedMessageError(what, 'reply to a broadcast without targets')
  const index = r.varint('index', targets - 1)
  const payload = r.lp('payload', maxPayload).slice()
  r.end()
  return { index, payload }
}

/** The kind byte of a frame a child sends back: REPLY or REPORT (anything else is malformed). */
export function answerKind(frame: Uint8Array): typeof BROADCAST_REPLY | typeof BROADCAST_REPORT {
  const kind = frame[0]
  if (kind === BROADCAST_REPLY || kind === BROADCAST_REPORT) return kind
  throw new MalformedMessageError(
    'broadcast answer',
    kind === undefined ? 'empty frame' : `kind 0x${kind.toString(16)} (expected a REPLY or a REPORT)`,
  )
}

/** Decodes a report answering `targets` targets; every index must be below it and appear at most once. */
export function decodeReport(frame: Uint8Array, targets: number): ReportEntry[] {
  const what = 'broadcast report'
  const r = new Reader(frame, what)
  const kind = r.u8('kind')
  if (kind !== BROADCAST_REPORT) throw new MalformedMessageError(what, `kind 0x${kind.toString(16)}`)
  const count = r.varint('entry count', targets)
  const seen = new Uint8Array(targets)
  const out: ReportEntry[] = []
  for (let i = 0; i < count; i++) {
    const index = r.varint('index', Math.max(0, targets - 1))
    if (seen[index] === 1) throw new MalformedMessageError(what, `target ${index} reported twice`)
    seen[index] = 1
    const code = r.u8('outcome')
    const outcome = OUTCOME_NAMES.get(code)
    if (outcome === undefined) throw new MalformedMessageError(what, `unknown outcome ${code}`)
    const reason = outcome === 'DELIVERED' ? '' : r.string('reason', MAX_BROADCAST_REASON_BYTES)
    out.push({ index, outcome, reason })
  }
  r.end()
  return out
}

function key(bytes: Uint8Array, what: string): PeerKey {
  try {
    return peerKeyFromBytes(bytes)
  } catch (err) {
    throw new MalformedMessageError(what, err instanceof Error ? err.message : String(err))
  }
}
