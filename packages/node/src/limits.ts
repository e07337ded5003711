/**
 * Defaults of @pnet/node, each with why.
 */

/** libp2p ping: every node answers it, stock libp2p peers included. */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
/** libp2p ping payload size (fixed by the protocol). */
export const PING_BYTES = 32
/** A ping stream with no ping for this long is closed by the responder. */
export const PING_STREAM_IDLE_MS = 30_000
/** Pings answered on one stream before the responder closes it (a stock client sends one per stream). */
export const MAX_PINGS_PER_STREAM = 10_000

export interface KeepaliveOptions {
  /** how often each neighbour is pinged by the router's link (also measures RTT) */
  intervalMs: number
  /** a neighbour silent this long is declared dead: its connection is cut, routes withdrawn, redial starts */
  timeoutMs: number
}

/** Detect a dead link (black-holed cable, wedged peer) within ~15 s; a ping every 5 s is negligible traffic. */
export const DEFAULT_KEEPALIVE: Readonly<KeepaliveOptions> = Object.freeze({ intervalMs: 5_000, timeoutMs: 15_000 })

export interface ReconnectOptions {
  /** first redial after a lost neighbour link */
  initialDelayMs: number
  /** the delay doubles (by `factor`) per failed attempt up to this */
  maxDelayMs: number
  factor: number
  /** each delay is spread by ±this fraction so a fleet does not redial in lockstep */
  jitter: number
}

/** Fast first retry (a restart of the peer takes a second or two), capped so a long outage costs little. */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.3,
})

/** How long stop() lets open streams finish before resetting them. */
export const DEFAULT_DRAIN_MS = 5_000

/** A dial (join, connect, redial) that has not finished in this long is abandoned. */
export const DIAL_TIMEOUT_MS = 15_000

/** The delay before redial attempt `attempt` (0-based), with jitter. */
export function backoffDelay(attempt: number, opts: ReconnectOptions, random = Math.random): number {
  const base = Math.min(opts.maxDelayMs, opts.initialDelayMs * opts.factor ** attempt)
  const spread = base * opts.jitter * (random() * 2 - 1)
  return Math.max(0, Math.round(base + spread))
}
