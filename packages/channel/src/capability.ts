/**
 * Capability tokens: an issuer (an Ed25519 key the callee trusts) grants a subject peer the use of a channel until
 * an expiry, optionally with claims (role, job ID…), an audience (which callees accept it) and single use.
 * Signed with @libp2p/crypto Ed25519 keys; the layout is in docs/protocol/channel.md.
 *
 * Replay: a token names its subject, and the subject is the peer ID the connection authenticated, so a stolen
 * token is useless to anyone else; single-use tokens are also remembered by ID until they expire.
 *
 * @example
 * ```ts
 * const token = await issueCapability({ issuer: caKey, subject: controllerId, channel: '/pnet/ops/*', ttlMs: 3600_000,
 *   claims: { role: 'operator' } })
 * registry.handle('/pnet/ops/exec', handler, { auth: capabilityAuth({ issuers: [caKey.publicKey] }) })
 * await openChannel(stream, '/pnet/ops/exec', { credentials: [capabilityCredential(token)] })   // ctx.auth.claims.role
 * ```
 */
import { randomBytes } from 'node:crypto'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@pnet/network'
import { type AuthPolicy, allow, type Claims, type Credential, deny } from './auth.js'
import {
  DEFAULT_REPLAY_CACHE_ENTRIES,
  DEFAULT_TOKEN_CLOCK_SKEW_MS,
  MAX_CHANNEL_NAME_BYTES,
  MAX_TOKEN_AUDIENCE,
  MAX_TOKEN_BYTES,
  MAX_TOKEN_CLAIMS,
} from './limits.js'
import { checkMetadata, readMetadata, writeMetadata } from './metadata.js'
import { concat, utf8Bytes, WireError, WireReader, WireWriter } from './wire.js'

export const CAPABILITY_SCHEME = 'capability'
const TOKEN_VERSION = 1
const SIGNING_CONTEXT = utf8Bytes('pnet-capability-v1\n')
const ID_BYTES = 16
const SIGNATURE_BYTES = 64
const MAX_KEY_BYTES = 128
const MAX_PEER_ID_BYTES = 128
const FLAG_SINGLE_USE = 0x01

/** A token that cannot be decoded or does not hold for this use; `reason` says which check failed. */
export class CapabilityError extends Error {
  override readonly name = 'CapabilityError' as const
  readonly code = 'ERR_INVALID_CAPABILITY' as const
  constructor(readonly reason: string) {
    super(`capability token refused: ${reason}`)
  }
}

export interface CapabilityToken {
  readonly issuer: PublicKey
  /** the peer ID allowed to present it */
  readonly subject: string
  /** a channel name, or a prefix ending in `/*` */
  readonly channel: string
  /** ms since the epoch */
  readonly notBefore: number
  readonly expires: number
  /** 16 random bytes, hex */
  readonly id: string
  readonly singleUse: boolean
  /** callee peer IDs that accept it; empty = any callee that trusts the issuer */
  readonly audience: readonly string[]
  readonly claims: Claims
}

export interface IssueCapabilityInit {
  /** an Ed25519 private key */
  issuer: PrivateKey
  subject: PeerId | string
  channel: string
  /** lifetime from now (default 1 hour) unless `expires` is given */
  ttlMs?: number
  expires?: number | Date
  notBefore?: number | Date
  audience?: Array<PeerId | string>
  claims?: Claims
  singleUse?: boolean
}

function ms(t: number | Date): number {
  return typeof t === 'number' ? t : t.getTime()
}

function checkPeerString(p: PeerId | string, what: string): string {
  const s = p.toString()
  try {
    peerIdFromString(s)
  } catch {
    throw new RangeError(`${what} ${JSON.stringify(s)} is not a peer ID`)
  }
  return s
}

function channelMatches(pattern: string, channel: string): boolean {
  return pattern.endsWith('/*') ? channel.startsWith(pattern.slice(0, -1)) : pattern === channel
}

/**
 * Issues a signed token.
 *
 * @example
 * ```ts
 * const token = await issueCapability({ issuer: caKey, subject: '12D3KooW…', channel: '/pnet/ops/exec', ttlMs: 600_000 })
 * console.log(encodeCapabilityText(token))   // hand it to the subject
 * ```
 */
export async function issueCapability(init: IssueCapabilityInit): Promise<Uint8Array> {
  if (init.issuer.type !== 'Ed25519')
    throw new TypeError(`capability issuers must be Ed25519 keys, not ${init.issuer.type}`)
  const subject = checkPeerString(init.subject, 'subject')
  if (!init.channel.startsWith('/') || Buffer.byteLength(init.channel) > MAX_CHANNEL_NAME_BYTES) {
    throw new RangeError(
      `capability channel ${JSON.stringify(init.channel)} must be a protocol ID or a prefix ending /*`,
    )
  }
  const notBefore = init.notBefore === undefined ? Date.now() : ms(init.notBefore)
  const expires = init.expires === undefined ? Date.now() + (init.ttlMs ?? 3_600_000) : ms(init.expires)
  if (!(expires > notBefore)) throw new RangeError('capability expires before it becomes valid')
  const audience = (init.audience ?? []).map(p => checkPeerString(p, 'audience'))
  if (audience.length > MAX_TOKEN_AUDIENCE) throw new RangeError(`at most ${MAX_TOKEN_AUDIENCE} audience peers`)
  const claims = checkMetadata(init.claims)
  if (Object.keys(claims).length > MAX_TOKEN_CLAIMS) throw new RangeError(`at most ${MAX_TOKEN_CLAIMS} claims`)

  const w = new WireWriter()
  w.u8(TOKEN_VERSION).bytes(publicKeyToProtobuf(init.issuer.publicKey)).string(subject).string(init.channel)
  w.uvarint(Math.max(0, Math.floor(notBefore))).uvarint(Math.floor(expires))
  w.bytes(new Uint8Array(randomBytes(ID_BYTES))).u8(init.singleUse === true ? FLAG_SINGLE_USE : 0)
  w.uvarint(audience.length)
  for (const a of audience) w.string(a)
  writeMetadata(w, claims)
  const body = w.finish()
  const signature = await init.issuer.sign(concat([SIGNING_CONTEXT, body]))
  const token = concat([body, new WireWriter().bytes(signature).finish()])
  if (token.byteLength > MAX_TOKEN_BYTES)
    throw new RangeError(`token is ${token.byteLength} bytes, over ${MAX_TOKEN_BYTES}`)
  return token
}

interface Decoded {
  token: CapabilityToken
  body: Uint8Array
  signature: Uint8Array
}

function decode(bytes: Uint8Array): Decoded {
  if (bytes.byteLength > MAX_TOKEN_BYTES)
    throw new WireError(`token is ${bytes.byteLength} bytes, over ${MAX_TOKEN_BYTES}`)
  const r = new WireReader(bytes)
  const version = r.u8('token version')
  if (version !== TOKEN_VERSION) throw new WireError(`unsupported token version ${version}`)
  let issuer: PublicKey
  const keyBytes = r.bytes('issuer key', MAX_KEY_BYTES)
  try {
    issuer = publicKeyFromProtobuf(keyBytes)
  } catch {
    throw new WireError('issuer key is not a valid public key')
  }
  if (issuer.type !== 'Ed25519') throw new WireError(`issuer key is ${issuer.type}, not Ed25519`)
  const subject = r.string('subject', MAX_PEER_ID_BYTES)
  const channel = r.string('channel', MAX_CHANNEL_NAME_BYTES)
  const notBefore = r.uvarint('notBefore')
  const expires = r.uvarint('expires')
  const id = r.bytes('token id', ID_BYTES)
  if (id.byteLength !== ID_BYTES) throw new WireError(`token id is ${id.byteLength} bytes, not ${ID_BYTES}`)
  const flags = r.u8('flags')
  if ((flags & ~FLAG_SINGLE_USE) !== 0) throw new WireError(`unknown token flags 0x${flags.toString(16)}`)
  const audienceCount = r.uvarint('audience count', MAX_TOKEN_AUDIENCE)
  const audience: string[] = []
  for (let i = 0; i < audienceCount; i++) audience.push(r.string('audience peer', MAX_PEER_ID_BYTES))
  const claims = readMetadata(r, MAX_TOKEN_CLAIMS, 'claim')
  const body = bytes.subarray(0, r.offset)
  const signature = r.bytes('signature', SIGNATURE_BYTES)
  if (signature.byteLength !== SIGNATURE_BYTES) throw new WireError(`signature is ${signature.byteLength} bytes`)
  r.end('token')
  const token: CapabilityToken = {
    issuer,
    subject,
    channel,
    notBefore,
    expires,
    id: Buffer.from(id).toString('hex'),
    singleUse: (flags & FLAG_SINGLE_USE) !== 0,
    audience,
    claims,
  }
  return { token, body, signature }
}

/**
 * Reads a token without checking it (to show what it grants). Throws CapabilityError when malformed.
 *
 * @example
 * ```ts
 * const { subject, channel, expires } = decodeCapability(token)
 * ```
 */
export function decodeCapability(bytes: Uint8Array): CapabilityToken {
  try {
    return decode(bytes).token
  } catch (err) {
    if (err instanceof WireError) throw new CapabilityError(`malformed token: ${err.message}`)
    throw err
  }
}

export interface VerifyCapabilityOptions {
  /** issuer keys trusted (Ed25519 public keys, or Ed25519 peer IDs which embed them) */
  issuers: ReadonlyArray<PublicKey | PeerId | string>
  /** the authenticated caller: must be the token's subject */
  remotePeer: PeerId
  /** the callee: must be in the token's audience when it has one */
  localPeer?: PeerId
  channel: string
  /** ms since the epoch; default Date.now() */
  now?: number
  clockSkewMs?: number
}

function issuerKey(issuer: PublicKey | PeerId | string): PublicKey {
  if (typeof issuer === 'string') return issuerKey(peerIdFromString(issuer))
  if ('raw' in issuer) return issuer
  if (issuer.publicKey === undefined) throw new TypeError(`peer ${issuer} does not embed a public key`)
  return issuer.publicKey
}

function keyId(key: PublicKey): string {
  return Buffer.from(publicKeyToProtobuf(key)).toString('hex')
}

async function check(bytes: Uint8Array, opts: VerifyCapabilityOptions, trusted: Set<string>): Promise<CapabilityToken> {
  let decoded: Decoded
  try {
    decoded = decode(bytes)
  } catch (err) {
    if (err instanceof WireError) throw new CapabilityError(`malformed token: ${err.message}`)
    throw err
  }
  const { token, body, signature } = decoded
  if (!trusted.has(keyId(token.issuer))) throw new CapabilityError('issuer is not trusted')
  if (!(await token.issuer.verify(concat([SIGNING_CONTEXT, body]), signature))) {
    throw new CapabilityError('bad signature')
  }
  const now = opts.now ?? Date.now()
  const skew = opts.clockSkewMs ?? DEFAULT_TOKEN_CLOCK_SKEW_MS
  if (now + skew < token.notBefore)
    throw new CapabilityError(`not valid before ${new Date(token.notBefore).toISOString()}`)
  if (now - skew >= token.expires) throw new CapabilityError(`expired at ${new Date(token.expires).toISOString()}`)
  if (token.subject !== opts.remotePeer.toString()) {
    throw new CapabilityError(`issued to ${token.subject}, presented by ${opts.remotePeer}`)
  }
  if (!channelMatches(token.channel, opts.channel)) {
    throw new CapabilityError(`grants ${token.channel}, not ${opts.channel}`)
  }
  if (
    token.audience.length > 0 &&
    (opts.localPeer === undefined || !token.audience.includes(opts.localPeer.toString()))
  ) {
    throw new CapabilityError('this peer is not in the token audience')
  }
  return token
}

/**
 * Checks a token for one use: trusted issuer, signature, validity window (with clock skew), subject = caller,
 * channel, audience. Does not track single use (the policy does). Throws CapabilityError with the failed check.
 *
 * @example
 * ```ts
 * const token = await verifyCapability(bytes, { issuers: [caPeerId], remotePeer, channel: '/pnet/ops/exec' })
 * ```
 */
export async function verifyCapability(bytes: Uint8Array, opts: VerifyCapabilityOptions): Promise<CapabilityToken> {
  return check(bytes, opts, new Set(opts.issuers.map(i => keyId(issuerKey(i)))))
}

/** Remembers single-use token IDs until they expire; bounded, and fails closed when full. */
class ReplayCache {
  readonly #seen = new Map<string, number>()
  constructor(readonly capacity: number) {}

  /** true when `id` was not seen (and is now recorded) */
  admit(id: string, expires: number, now: number): boolean {
    const prior = this.#seen.get(id)
    if (prior !== undefined && prior > now) return false
    if (this.#seen.size >= this.capacity) {
      for (const [k, exp] of this.#seen) if (exp <= now) this.#seen.delete(k)
      if (this.#seen.size >= this.capacity) return false
    }
    this.#seen.set(id, expires)
    return true
  }
}

export interface CapabilityAuthInit {
  /** issuer keys trusted (Ed25519 public keys, or Ed25519 peer IDs which embed them) */
  issuers: ReadonlyArray<PublicKey | PeerId | string>
  clockSkewMs?: number
  /** clock, for tests; default Date.now */
  now?: () => number
  /** single-use token IDs remembered; default DEFAULT_REPLAY_CACHE_ENTRIES */
  replayCacheEntries?: number
}

/**
 * Callee policy: allows callers presenting a valid token for this channel; the token's claims become
 * `ctx.auth.claims`. `revoke(id)` refuses a token from then on.
 *
 * @example
 * ```ts
 * const policy = capabilityAuth({ issuers: [caPeerId] })
 * registry.handle('/pnet/ops/exec', handler, { auth: policy })
 * policy.revoke(decodeCapability(leaked).id)
 * ```
 */
export function capabilityAuth(init: CapabilityAuthInit): AuthPolicy & { revoke(id: string): void } {
  if (init.issuers.length === 0) throw new TypeError('capabilityAuth needs at least one trusted issuer')
  const trusted = new Set(init.issuers.map(i => keyId(issuerKey(i))))
  const replay = new ReplayCache(init.replayCacheEntries ?? DEFAULT_REPLAY_CACHE_ENTRIES)
  const revoked = new Set<string>()
  const clock = init.now ?? Date.now
  return {
    name: 'capability',
    requiresHeader: true,
    revoke: id => {
      revoked.add(id)
    },
    async authorize(ctx) {
      const bytes = ctx.credentials.get(CAPABILITY_SCHEME)
      if (bytes === undefined) return deny('no capability token offered')
      const now = clock()
      let token: CapabilityToken
      try {
        token = await check(
          bytes,
          {
            issuers: [],
            remotePeer: ctx.remotePeer,
            localPeer: ctx.localPeer,
            channel: ctx.channel,
            now,
            clockSkewMs: init.clockSkewMs,
          },
          trusted,
        )
      } catch (err) {
        if (err instanceof CapabilityError) return deny(`capability token refused: ${err.reason}`)
        throw err
      }
      if (revoked.has(token.id)) return deny('capability token refused: revoked')
      if (
        token.singleUse &&
        !replay.admit(token.id, token.expires + (init.clockSkewMs ?? DEFAULT_TOKEN_CLOCK_SKEW_MS), now)
      ) {
        return deny('capability token refused: single-use token already used')
      }
      return allow(token.claims)
    },
  }
}

/**
 * Caller credential carrying a token (bytes, or the text form from {@link encodeCapabilityText}).
 *
 * @example
 * ```ts
 * await openChannel(stream, '/pnet/ops/exec', { credentials: [capabilityCredential(process.env.OPS_TOKEN!)] })
 * ```
 */
export function capabilityCredential(token: Uint8Array | string): Credential {
  const bytes = typeof token === 'string' ? decodeCapabilityText(token) : token
  if (bytes.byteLength > MAX_TOKEN_BYTES) throw new RangeError(`token is over ${MAX_TOKEN_BYTES} bytes`)
  return { scheme: CAPABILITY_SCHEME, present: () => bytes }
}

/**
 * base64url text form of a token, for files, environment variables and command lines.
 *
 * @example
 * ```ts
 * await writeFile('ops.token', encodeCapabilityText(token))
 * ```
 */
export function encodeCapabilityText(token: Uint8Array): string {
  return Buffer.from(token).toString('base64url')
}

/**
 * Bytes of a token's text form; throws CapabilityError on anything that is not base64url.
 *
 * @example
 * ```ts
 * const token = decodeCapabilityText(await readFile('ops.token', 'utf8'))
 * ```
 */
export function decodeCapabilityText(text: string): Uint8Array {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) throw new CapabilityError('token text is not base64url')
  return new Uint8Array(Buffer.from(trimmed, 'base64url'))
}
