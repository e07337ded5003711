/**
 * Every limit of @pnet/network in one place, with its default and why.
 */
import type { Limits } from './interface.js'

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  // A fleet node talks to a few neighbours; a hub or relay to many. 1024 sockets stays well inside default ulimits.
  maxConnections: 1024,
  // Simultaneous dials from both sides can briefly make two; more than a few is a misbehaving peer.
  maxConnectionsPerPeer: 4,
  // yamux's own default; enough for heavy RPC fan-in on one link.
  maxInboundStreams: 1024,
  maxOutboundStreams: 1024,
  // Noise XX is 1.5 round trips; 10 s tolerates slow links and loaded hosts yet stops slowloris handshakes.
  handshakeTimeoutMs: 10_000,
  // Neighbour links are kept busy by keepalives from the node layer; a connection nobody uses is reclaimed.
  idleTimeoutMs: 5 * 60_000,
  // Each pending handshake holds a socket and a little crypto state; a flood beyond this is dropped at accept.
  maxPendingHandshakes: 64,
  // Above this many unread bytes a stream stops granting yamux window, so the remote writer stalls.
  streamReadBufferBytes: 1024 * 1024,
})

/**
 * Inbound streams whose handler starts in one event-loop turn, per connection; more wait for the next turn. Each
 * start costs ~0.1 ms (channel negotiation begins), so one connection cannot hold the loop for more than a few ms.
 */
export const INBOUND_HANDLERS_PER_TURN = 32

/**
 * yamux frames decoded per event-loop turn and connection, and of those, stream opens and resets (each starts or ends
 * a handler's work, the costly part of a frame). When either budget is spent the connection's socket is paused and
 * decoding goes on in the next turn: a peer that packs thousands of frames into one read (a stream bomb, a flood of
 * tiny frames) gets its turn like every other connection instead of holding the event loop, and TCP backpressure
 * slows it down. Bulk data is not affected: 512 full frames are 32 MiB.
 */
export const FRAMES_PER_TURN = 512
export const STREAM_CHANGES_PER_TURN = 32

/**
 * Log lines about things a remote can make happen at will (refused connections, peers cut off) are written at most
 * once per this many ms per message and logger; the next line counts the ones dropped (see logThrottled).
 */
export const LOG_THROTTLE_MS = 1_000

/** A peer that has this many inbound streams refused for being past the limit is disconnected. */
export const STREAM_LIMIT_STRIKES = 32

/** yamux's largest receive window per stream; also the largest data frame we accept (see yamux-guard.ts). */
export const MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024

/** Largest frame a yamux header may announce; a peer announcing more is cut off before anything is buffered. */
export const MAX_YAMUX_FRAME_BYTES = MAX_STREAM_WINDOW_BYTES

/** How long `close()` of a connection waits for open streams before resetting them, when no signal is given. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000

/**
 * Largest WebSocket message the ws transport accepts; a peer sending more is cut off (close code 1009). The `ws`
 * library buffers a whole message before handing it over, so this bounds memory per connection. Our side sends one
 * Noise message (≤ 64 KiB) per WebSocket message; other libp2p implementations batch several, one yamux window at most.
 */
export const WS_MAX_MESSAGE_BYTES = MAX_STREAM_WINDOW_BYTES

/**
 * A socket with no traffic at all (not even yamux keepalives, sent every 30 s) for this long belongs to a dead peer.
 * Only a safety net: the idle policy is limits.idleTimeoutMs, so the socket timer uses the larger of this and twice it.
 */
export const SOCKET_DEAD_PEER_MS = 120_000

/** How long a socket may stay without traffic before it is treated as a dead peer's (see SOCKET_DEAD_PEER_MS). */
export function deadPeerTimeoutMs(limits: Readonly<Limits>): number {
  return Math.max(2 * limits.idleTimeoutMs, SOCKET_DEAD_PEER_MS)
}

/** Merges user limits over the defaults and rejects nonsense with a message naming the field. */
export function resolveLimits(user: Partial<Limits> = {}): Readonly<Limits> {
  const limits = { ...DEFAULT_LIMITS, ...user }
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new RangeError(`limits.${key} must be a number >= 0, got ${String(value)}`)
    }
  }
  for (const key of [
    'maxConnections',
    'maxConnectionsPerPeer',
    'maxPendingHandshakes',
    'handshakeTimeoutMs',
  ] as const) {
    if (limits[key] < 1) throw new RangeError(`limits.${key} must be >= 1, got ${limits[key]}`)
  }
  return Object.freeze(limits)
}
