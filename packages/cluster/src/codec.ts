/**
 * The membership wire format (docs/protocol/cluster.md): every message is an envelope signed by its sender's
 * Ed25519 peer key, and every statement inside it (alive, suspect, dead, leave) carries its own signature by the
 * one member allowed to make it — `alive`/`leave` by the member itself, `suspect`/`dead` by the accuser. So
 * anyone may relay a statement, nobody can forge one, and a member cannot speak for another: the worst a member
 * can do is accuse (as SWIM allows any member to), and the accused refutes.
 *
 * Varints are unsigned LEB128; strings are varint length + UTF-8. The decoder is strict (truncation, trailing
 * bytes, non-minimal varints, unknown types or flags, unsorted tags, limits in {@link CODEC_LIMITS}) and throws
 * {@link MalformedClusterDataError}; a bad signature throws {@link InvalidSignatureError}.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from '@pnet/cluster/internal'
 * import { generateKey } from '@pnet/network'
 *
 * const privateKey = await generateKey()
 * const bytes = await encodeMessage({ type: 'ack', seq: 7, gossip: [] }, { privateKey })
 * const { from, message } = await decodeMessage(bytes)   // from: the sender's peer ID; message: the ack
 * ```
 */
import { type PrivateKey, parsePeerId, peerIdFromKey } from '@pnet/network'
import { Reader, Writer } from './bytes.js'
import { InvalidClusterArgumentError, InvalidSignatureError } from './errors.js'
import { CODEC_LIMITS } from './limits.js'
import { type Gossip, type MemberMeta, type SwimMessage, signerOf } from './swim/messages.js'

export const CODEC_VERSION = 1
const enc = new TextEncoder()
/** domain separation: a statement signature can never pass as an envelope signature, or the reverse */
export const MESSAGE_CONTEXT = enc.encode('/pnet/cluster/1/message\u0000')
export const STATEMENT_CONTEXT = enc.encode('/pnet/cluster/1/statement\u0000')

const MESSAGE_TYPES = { ping: 1, 'ping-req': 2, ack: 3, nack: 4, gossip: 5, 'push-pull': 6 } as const
const STATEMENT_TYPES = { alive: 1, suspect: 2, dead: 3, leave: 4 } as const

export interface EncodeOptions {
  /** the sender's key; its peer ID is the envelope's sender */
  privateKey: PrivateKey
  signal?: AbortSignal
}

export interface DecodeOptions {
  signal?: AbortSignal
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

function str(w: Writer, value: string, max: number, what: string): void {
  const bytes = enc.encode(value)
  if (bytes.byteLength > max) throw new InvalidClusterArgumentError(what, value, `longer than ${max} bytes`)
  w.lp(bytes)
}

/**
 * The bytes a statement's signer signs (without the context prefix).
 *
 * @example
 * ```ts
 * const body = encodeStatementBody({ type: 'leave', id: peerId, incarnation: 3 })
 * const sig = await privateKey.sign(concat(STATEMENT_CONTEXT, body))
 * ```
 */
export function encodeStatementBody(g: Gossip): Uint8Array {
  const w = new Writer(96)
  w.varint(STATEMENT_TYPES[g.type])
  str(w, g.id, CODEC_LIMITS.maxPeerIdBytes, 'member id')
  w.varint(g.incarnation)
  if (g.type === 'alive') {
    str(w, g.address, CODEC_LIMITS.maxAddressBytes, 'address')
    const milli = Math.round(g.meta.weight * 1000)
    if (!(milli >= 0 && milli <= CODEC_LIMITS.maxWeightMilli) || Math.abs(milli - g.meta.weight * 1000) > 1e-6) {
      throw new InvalidClusterArgumentError('weight', String(g.meta.weight), 'must be 0 to 1e6 in steps of 0.001')
    }
    w.varint(milli)
    const keys = Object.keys(g.meta.tags).sort()
    if (keys.length > CODEC_LIMITS.maxTags) {
      throw new InvalidClusterArgumentError('tags', `${keys.length} tags`, `more than ${CODEC_LIMITS.maxTags}`)
    }
    w.varint(keys.length)
    for (const k of keys) {
      str(w, k, CODEC_LIMITS.maxTagKeyBytes, 'tag key')
      str(w, g.meta.tags[k]!, CODEC_LIMITS.maxTagValueBytes, `tag ${k}`)
    }
  } else if (g.type === 'suspect' || g.type === 'dead') {
    str(w, g.from, CODEC_LIMITS.maxPeerIdBytes, 'accuser id')
  }
  return w.finish()
}

function decodeStatementBody(bytes: Uint8Array): Gossip {
  const r = new Reader(bytes, 'statement')
  const kind = r.varint('kind', 4)
  const id = r.string('member id', CODEC_LIMITS.maxPeerIdBytes)
  const incarnation = r.varint('incarnation')
  let g: Gossip
  switch (kind) {
    case STATEMENT_TYPES.alive: {
      const address = r.string('address', CODEC_LIMITS.maxAddressBytes)
      const weight = r.varint('weight', CODEC_LIMITS.maxWeightMilli) / 1000
      const count = r.varint('tag count', CODEC_LIMITS.maxTags)
      const tags: Record<string, string> = {}
      let prev: string | undefined
      for (let i = 0; i < count; i++) {
        const k = r.string(`tag ${i} key`, CODEC_LIMITS.maxTagKeyBytes)
        if (prev !== undefined && !(prev < k)) r.fail(`tag ${i} key`, 'not in ascending order (or duplicate)')
        tags[k] = r.string(`tag ${k} value`, CODEC_LIMITS.maxTagValueBytes)
        prev = k
      }
      const meta: MemberMeta = { tags, weight }
      g = { type: 'alive', id, address, incarnation, meta }
      break
    }
    case STATEMENT_TYPES.suspect:
    case STATEMENT_TYPES.dead: {
      const from = r.string('accuser id', CODEC_LIMITS.maxPeerIdBytes)
      g = { type: kind === STATEMENT_TYPES.suspect ? 'suspect' : 'dead', id, incarnation, from }
      break
    }
    case STATEMENT_TYPES.leave:
      g = { type: 'leave', id, incarnation }
      break
    default:
      return r.fail('kind', `unknown statement kind ${kind}`)
  }
  r.end()
  return g
}

/** signatures made by this process, per statement object (a statement is signed once, however often it is sent) */
const signed = new WeakMap<Gossip, Uint8Array>()

async function signatureOf(g: Gossip, sender: string, key: PrivateKey, signal?: AbortSignal): Promise<Uint8Array> {
  if (g.sig !== undefined) return g.sig
  const cached = signed.get(g)
  if (cached !== undefined) return cached
  const signer = signerOf(g)
  if (signer !== sender) {
    throw new InvalidClusterArgumentError(
      'statement',
      `${g.type} about ${g.id}`,
      `unsigned, and only ${signer} may sign it`,
    )
  }
  const sig = await key.sign(concat(STATEMENT_CONTEXT, encodeStatementBody(g)), signal ? { signal } : undefined)
  signed.set(g, sig)
  return sig
}

function statementsOf(m: SwimMessage): Gossip[] {
  return m.type === 'push-pull' ? m.statements : m.gossip
}

/**
 * The signed envelope of a message. Statements without a signature must be the sender's own (they are signed
 * here, once per statement object); others' statements must carry the signature they arrived with.
 *
 * @example
 * ```ts
 * const bytes = await encodeMessage({ type: 'ping', seq: 1, target: peerId, gossip: [] }, { privateKey })
 * ```
 */
export async function encodeMessage(message: SwimMessage, options: EncodeOptions): Promise<Uint8Array> {
  options.signal?.throwIfAborted()
  const sender = peerIdFromKey(options.privateKey).toString()
  const statements = statementsOf(message)
  const push = message.type === 'push-pull'
  const maxStatements = push ? CODEC_LIMITS.maxStatementsPerPushPull : CODEC_LIMITS.maxStatementsPerMessage
  if (statements.length > maxStatements) {
    throw new InvalidClusterArgumentError('statements', String(statements.length), `more than ${maxStatements}`)
  }
  const body = new Writer(256)
  body.varint(MESSAGE_TYPES[message.type])
  switch (message.type) {
    case 'ping':
      body.varint(message.seq)
      str(body, message.target, CODEC_LIMITS.maxPeerIdBytes, 'target')
      break
    case 'ping-req':
      body.varint(message.seq)
      str(body, message.target, CODEC_LIMITS.maxPeerIdBytes, 'target')
      str(body, message.targetAddress, CODEC_LIMITS.maxAddressBytes, 'target address')
      body.varint(message.nack ? 1 : 0)
      break
    case 'ack':
    case 'nack':
      body.varint(message.seq)
      break
    case 'push-pull':
      body.varint((message.reply ? 1 : 0) | (message.join ? 2 : 0))
      break
    case 'gossip':
      break
  }
  body.varint(statements.length)
  for (const g of statements) {
    body.lp(encodeStatementBody(g))
    body.lp(await signatureOf(g, sender, options.privateKey, options.signal))
  }
  const bodyBytes = body.finish()
  const max = push ? CODEC_LIMITS.maxPushPullBytes : CODEC_LIMITS.maxMessageBytes
  if (bodyBytes.byteLength > max) {
    throw new InvalidClusterArgumentError('message', `${bodyBytes.byteLength} bytes`, `more than ${max}`)
  }
  options.signal?.throwIfAborted()
  const sig = await options.privateKey.sign(
    concat(MESSAGE_CONTEXT, bodyBytes),
    options.signal ? { signal: options.signal } : undefined,
  )
  const w = new Writer(bodyBytes.byteLength + 140)
  w.varint(CODEC_VERSION)
  str(w, sender, CODEC_LIMITS.maxPeerIdBytes, 'sender')
  w.lp(bodyBytes)
  w.lp(sig)
  return w.finish()
}

async function verify(signer: string, data: Uint8Array, sig: Uint8Array, what: string, signal?: AbortSignal) {
  let ok = false
  try {
    const key = parsePeerId(signer).publicKey
    if (key !== undefined && key.type === 'Ed25519') ok = await key.verify(data, sig, signal ? { signal } : undefined)
  } catch (err) {
    if (signal?.aborted) throw err
    ok = false
  }
  if (!ok) throw new InvalidSignatureError(what, signer)
}

/**
 * Decodes and verifies a message: the envelope against its sender's peer ID, every statement against its signer's.
 * Returns the sender's peer ID (what the state machine gets as `from.id`) and the message, statements carrying
 * their signatures so they can be relayed.
 *
 * @example
 * ```ts
 * const { from, message } = await decodeMessage(bytes, { signal })
 * swim.receive(Date.now(), { id: from, address: remoteAddress }, message)
 * ```
 */
export async function decodeMessage(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): Promise<{ from: string; message: SwimMessage }> {
  options.signal?.throwIfAborted()
  const r = new Reader(bytes, 'cluster message')
  const version = r.varint('version', 255)
  if (version !== CODEC_VERSION) r.fail('version', `unsupported version ${version}`)
  const from = r.string('sender', CODEC_LIMITS.maxPeerIdBytes)
  const bodyBytes = r.bytes(r.varint('body length', CODEC_LIMITS.maxPushPullBytes), 'body')
  const sig = r.bytes(r.varint('signature length', CODEC_LIMITS.signatureBytes), 'signature')
  if (sig.byteLength !== CODEC_LIMITS.signatureBytes) r.fail('signature', `${sig.byteLength} bytes, not 64`)
  r.end()
  const b = new Reader(bodyBytes, 'cluster message')
  const type = b.varint('type', 6)
  if (type !== MESSAGE_TYPES['push-pull'] && bodyBytes.byteLength > CODEC_LIMITS.maxMessageBytes) {
    b.fail('body', `${bodyBytes.byteLength} bytes, more than ${CODEC_LIMITS.maxMessageBytes}`)
  }
  await verify(from, concat(MESSAGE_CONTEXT, bodyBytes), sig, 'message', options.signal)
  let head: Record<string, unknown>
  switch (type) {
    case MESSAGE_TYPES.ping:
      head = { type: 'ping', seq: b.varint('seq'), target: b.string('target', CODEC_LIMITS.maxPeerIdBytes) }
      break
    case MESSAGE_TYPES['ping-req']: {
      const seq = b.varint('seq')
      const target = b.string('target', CODEC_LIMITS.maxPeerIdBytes)
      const targetAddress = b.string('target address', CODEC_LIMITS.maxAddressBytes)
      const flags = b.varint('flags', 1)
      head = { type: 'ping-req', seq, target, targetAddress, nack: flags === 1 }
      break
    }
    case MESSAGE_TYPES.ack:
    case MESSAGE_TYPES.nack:
      head = { type: type === MESSAGE_TYPES.ack ? 'ack' : 'nack', seq: b.varint('seq') }
      break
    case MESSAGE_TYPES.gossip:
      head = { type: 'gossip' }
      break
    case MESSAGE_TYPES['push-pull']: {
      const flags = b.varint('flags', 3)
      head = { type: 'push-pull', reply: (flags & 1) !== 0, join: (flags & 2) !== 0 }
      break
    }
    default:
      return b.fail('type', `unknown message type ${type}`)
  }
  const push = type === MESSAGE_TYPES['push-pull']
  const count = b.varint(
    'statement count',
    push ? CODEC_LIMITS.maxStatementsPerPushPull : CODEC_LIMITS.maxStatementsPerMessage,
  )
  const statements: Gossip[] = []
  for (let i = 0; i < count; i++) {
    const body = b.bytes(b.varint(`statement ${i} length`, CODEC_LIMITS.maxMessageBytes), `statement ${i}`)
    const ssig = b.bytes(b.varint(`statement ${i} signature length`, 64), `statement ${i} signature`)
    if (ssig.byteLength !== CODEC_LIMITS.signatureBytes) b.fail(`statement ${i} signature`, 'not 64 bytes')
    const g = decodeStatementBody(body)
    await verify(
      signerOf(g),
      concat(STATEMENT_CONTEXT, body),
      ssig,
      `${g.type} statement about ${g.id}`,
      options.signal,
    )
    g.sig = ssig.slice()
    statements.push(g)
  }
  b.end()
  const message = (push ? { ...head, statements } : { ...head, gossip: statements }) as SwimMessage
  return { from, message }
}
