/**
 * Auth: pluggable policies on the callee (`authorize(ctx) → allow | deny(reason)`), credentials on the caller.
 *
 * A policy sees who is calling (the peer ID the connection authenticated), what they offered in their header
 * (metadata, credential bytes by scheme, a nonce) and may run challenge rounds (`ctx.challenge`). Policies here:
 * {@link allowAll}, {@link allowPeers}, {@link anyOf}, {@link allOf}; pre-shared key in psk.ts, capability tokens in
 * capability.ts.
 *
 * @example
 * ```ts
 * registry.handle('/pnet/admin', handler, { auth: anyOf(allowPeers([operatorId]), capabilityAuth({ issuers: [caId] })) })
 * ```
 */
import type { PeerId } from '@pnet/network'
import { MAX_REASON_BYTES } from './limits.js'
import type { Metadata } from './metadata.js'
import { truncateUtf8 } from './wire.js'

export type Claims = Readonly<Record<string, string>>

export type AuthDecision =
  | { readonly allowed: true; readonly claims?: Claims; readonly by?: string }
  | { readonly allowed: false; readonly reason: string }

/** What a policy knows about the caller. */
export interface AuthContext {
  readonly channel: string
  /** 0 for channels without a header */
  readonly version: number
  readonly localPeer: PeerId
  /** authenticated by the connection (or the router's end-to-end handshake) */
  readonly remotePeer: PeerId
  readonly metadata: Metadata
  /** credential bytes the caller put in its header, by scheme (empty for channels without a header) */
  readonly credentials: ReadonlyMap<string, Uint8Array>
  /** the caller's 32-byte nonce from its header (empty for channels without a header) */
  readonly callerNonce: Uint8Array
  /**
   * One challenge round: sends `payload` under `scheme` and resolves to the caller's answer (empty if the caller
   * has no credential for the scheme). At most MAX_CHALLENGES per handshake; throws on channels without a header.
   */
  challenge(scheme: string, payload: Uint8Array): Promise<Uint8Array>
  /** fires when the handshake times out or the stream dies */
  readonly signal: AbortSignal
}

export interface AuthPolicy {
  /** shown in logs and in `ctx.auth.policy` */
  readonly name: string
  /** true when the policy needs the pnet header (credentials or challenges); refused for `header: false` channels */
  readonly requiresHeader?: boolean
  authorize(ctx: AuthContext): AuthDecision | Promise<AuthDecision>
}

/** What a caller's credential knows. */
export interface CredentialContext {
  readonly channel: string
  /** the caller's own peer ID (from `openChannel({ localPeer })` or the connection); needed by psk */
  readonly localPeer?: PeerId
  readonly remotePeer: PeerId
  readonly callerNonce: Uint8Array
  readonly signal: AbortSignal
}

/** A caller-side credential for one scheme. */
export interface Credential {
  readonly scheme: string
  /** bytes sent in the HELLO under `scheme`; return an empty array to announce the scheme without data */
  present?(ctx: CredentialContext): Uint8Array | Promise<Uint8Array>
  /** answers a challenge of this scheme; throw UnauthorizedError to give up (e.g. the callee failed to prove itself) */
  respond?(payload: Uint8Array, ctx: CredentialContext): Uint8Array | Promise<Uint8Array>
}

/**
 * An allow decision.
 *
 * @example
 * ```ts
 * const policy: AuthPolicy = { name: 'office-hours', authorize: () => (new Date().getHours() < 18 ? allow() : deny('closed')) }
 * ```
 */
export function allow(claims?: Claims, by?: string): AuthDecision {
  return { allowed: true, claims, by }
}

/** A deny decision; the reason is sent to the caller (cut to 512 bytes), so keep secrets out of it. */
export function deny(reason: string): AuthDecision {
  return { allowed: false, reason: truncateUtf8(reason, MAX_REASON_BYTES) }
}

/**
 * Everyone whose connection authenticated (the default for `handle()`).
 *
 * @example
 * ```ts
 * registry.handle('/pnet/echo', handler, { auth: allowAll() })
 * ```
 */
export function allowAll(): AuthPolicy {
  return { name: 'allow-all', authorize: () => allow() }
}

/**
 * Only the listed peer IDs.
 *
 * @example
 * ```ts
 * registry.handle('/pnet/ops/exec', handler, { auth: allowPeers(['12D3KooW…', controllerPeerId]) })
 * ```
 */
export function allowPeers(peers: Iterable<PeerId | string>): AuthPolicy & { add(peer: PeerId | string): void } {
  const allowed = new Set<string>()
  const add = (peer: PeerId | string): void => {
    allowed.add(peer.toString())
  }
  for (const p of peers) add(p)
  return {
    name: 'allow-peers',
    add,
    authorize: ctx =>
      allowed.has(ctx.remotePeer.toString()) ? allow() : deny(`peer ${ctx.remotePeer} is not on the allowlist`),
  }
}

/**
 * The first policy that allows wins; denied when all deny (the reasons are joined).
 *
 * @example
 * ```ts
 * anyOf(allowPeers([admin]), presharedKeyAuth({ key }))
 * ```
 */
export function anyOf(...policies: AuthPolicy[]): AuthPolicy {
  if (policies.length === 0) throw new TypeError('anyOf needs at least one policy')
  return {
    name: `any-of(${policies.map(p => p.name).join(',')})`,
    requiresHeader: policies.some(p => p.requiresHeader === true),
    async authorize(ctx) {
      const reasons: string[] = []
      for (const policy of policies) {
        const decision = await policy.authorize(ctx)
        if (decision.allowed) return { ...decision, by: decision.by ?? policy.name }
        reasons.push(`${policy.name}: ${decision.reason}`)
      }
      return deny(reasons.join('; '))
    },
  }
}

/**
 * Every policy must allow (in order; the first deny stops); claims are merged.
 *
 * @example
 * ```ts
 * allOf(allowPeers(fleet), capabilityAuth({ issuers: [ca] }))
 * ```
 */
export function allOf(...policies: AuthPolicy[]): AuthPolicy {
  if (policies.length === 0) throw new TypeError('allOf needs at least one policy')
  return {
    name: `all-of(${policies.map(p => p.name).join(',')})`,
    requiresHeader: policies.some(p => p.requiresHeader === true),
    async authorize(ctx) {
      const claims: Record<string, string> = {}
      for (const policy of policies) {
        const decision = await policy.authorize(ctx)
        if (!decision.allowed) return deny(`${policy.name}: ${decision.reason}`)
        Object.assign(claims, decision.claims)
      }
      return allow(claims)
    },
  }
}
