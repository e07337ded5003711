/**
 * Pre-shared key auth by challenge–response (clusterluck's "cookie"): both ends prove they hold the same key with
 * HMAC-SHA256 over a transcript of both nonces, both peer IDs and the channel. The key never crosses the wire, a
 * proof is useless for any other handshake, and the callee proves itself too (mutual).
 *
 *   HELLO     caller announces scheme `psk` (empty credential) and its nonce Nc
 *   CHALLENGE callee sends Ns ‖ HMAC(key, "pnet-psk-v1 callee" transcript)
 *   PROOF     caller checks the callee's proof, answers HMAC(key, "pnet-psk-v1 caller" transcript)
 *
 * @example
 * ```ts
 * const key = 'a long random cluster secret, 16 bytes or more'
 * registry.handle('/pnet/cluster', handler, { auth: presharedKeyAuth({ key }) })
 * await openChannel(stream, '/pnet/cluster', { localPeer: myId, credentials: [presharedKeyCredential({ key })] })
 * ```
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { PeerId } from '@pnet/network'
import { type AuthPolicy, allow, type Credential, deny } from './auth.js'
import { ChannelProtocolError, UnauthorizedError } from './errors.js'
import { MIN_PSK_BYTES, NONCE_BYTES } from './limits.js'
import { lengthPrefixed, nonce, utf8Bytes } from './wire.js'

export const PSK_SCHEME = 'psk'
const HMAC_BYTES = 32
const CALLEE_LABEL = 'pnet-psk-v1 callee'
const CALLER_LABEL = 'pnet-psk-v1 caller'

export interface PresharedKeyInit {
  /** at least 16 bytes; a string is taken as its UTF-8 bytes */
  key: Uint8Array | string
}

function keyBytes(key: Uint8Array | string): Uint8Array {
  const bytes = typeof key === 'string' ? utf8Bytes(key) : key
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < MIN_PSK_BYTES) {
    throw new RangeError(`a pre-shared key must be at least ${MIN_PSK_BYTES} bytes`)
  }
  return Uint8Array.from(bytes)
}

interface Transcript {
  channel: string
  callerNonce: Uint8Array
  calleeNonce: Uint8Array
  caller: PeerId
  callee: PeerId
}

/** HMAC-SHA256(key, lp(label) ‖ lp(channel) ‖ lp(Nc) ‖ lp(Ns) ‖ lp(caller ID) ‖ lp(callee ID)), lp = varint length. */
function proof(key: Uint8Array, label: string, t: Transcript): Uint8Array {
  const hmac = createHmac('sha256', key)
  for (const part of [
    utf8Bytes(label),
    utf8Bytes(t.channel),
    t.callerNonce,
    t.calleeNonce,
    t.caller.toMultihash().bytes,
    t.callee.toMultihash().bytes,
  ]) {
    hmac.update(lengthPrefixed(part))
  }
  return new Uint8Array(hmac.digest())
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b)
}

/**
 * Callee policy: allows callers that prove they hold `key`.
 *
 * @example
 * ```ts
 * registry.handle('/pnet/cluster', handler, { auth: presharedKeyAuth({ key: process.env.CLUSTER_COOKIE! }) })
 * ```
 */
export function presharedKeyAuth(init: PresharedKeyInit): AuthPolicy {
  const key = keyBytes(init.key)
  return {
    name: 'psk',
    requiresHeader: true,
    async authorize(ctx) {
      // only challenge callers that can answer, so anyOf(psk, other) lets the others through without a round trip
      if (!ctx.credentials.has(PSK_SCHEME)) return deny('no pre-shared key credential offered')
      const t: Transcript = {
        channel: ctx.channel,
        callerNonce: ctx.callerNonce,
        calleeNonce: nonce(),
        caller: ctx.remotePeer,
        callee: ctx.localPeer,
      }
      const payload = new Uint8Array(NONCE_BYTES + HMAC_BYTES)
      payload.set(t.calleeNonce, 0)
      payload.set(proof(key, CALLEE_LABEL, t), NONCE_BYTES)
      const answer = await ctx.challenge(PSK_SCHEME, payload)
      return same(answer, proof(key, CALLER_LABEL, t)) ? allow() : deny('pre-shared key proof does not match')
    },
  }
}

/**
 * Caller credential for {@link presharedKeyAuth}. Needs the caller's own peer ID: pass `localPeer` to openChannel
 * (the RPC helpers take it from the connection).
 *
 * @example
 * ```ts
 * await call(connection, '/pnet/cluster', request, { credentials: [presharedKeyCredential({ key })] })
 * ```
 */
export function presharedKeyCredential(init: PresharedKeyInit): Credential {
  const key = keyBytes(init.key)
  return {
    scheme: PSK_SCHEME,
    present: () => new Uint8Array(0),
    respond(payload, ctx) {
      const peer = ctx.remotePeer.toString()
      if (ctx.localPeer === undefined) {
        throw new TypeError('psk needs the caller peer ID: pass localPeer to openChannel')
      }
      if (payload.byteLength !== NONCE_BYTES + HMAC_BYTES) {
        throw new ChannelProtocolError(ctx.channel, peer, `psk challenge is ${payload.byteLength} bytes, not 64`)
      }
      const t: Transcript = {
        channel: ctx.channel,
        callerNonce: ctx.callerNonce,
        calleeNonce: payload.subarray(0, NONCE_BYTES),
        caller: ctx.localPeer,
        callee: ctx.remotePeer,
      }
      if (!same(payload.subarray(NONCE_BYTES), proof(key, CALLEE_LABEL, t))) {
        throw new UnauthorizedError(ctx.channel, peer, 'the callee failed to prove it holds the pre-shared key')
      }
      return proof(key, CALLER_LABEL, t)
    },
  }
}
