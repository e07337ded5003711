/**
 * Every limit and timer of @pnet/router in one place, with its default and why. Options of `createRouter({ limits,
 * timers })` override them field by field; `resolveRouterLimits` / `resolveRouterTimers` reject nonsense with a
 * message naming the field.
 */

/** Metric value meaning "unreachable" (a retraction). Metrics are 16-bit, as in Babel. */
export const INFINITY_METRIC = 0xffff

/** Largest finite metric and hop count a route may have. */
export const MAX_METRIC = INFINITY_METRIC - 1

/**
 * Longest reason a relay STATUS carries, bytes of UTF-8. Big enough for the longest reason a relay writes whole —
 * NEXT_HOP_FAILED names two peers and quotes the next hop's refusal, itself up to the 512 bytes of a channel
 * REJECT reason — so the origin reads it as written; a longer one is cut at a word boundary and ends in `…`.
 */
export const MAX_RELAY_REASON_BYTES = 1024

export interface RouterLimits {
  /** destinations kept in the routing table; updates about further ones are dropped (and logged) */
  maxDestinations: number
  /** route entries in one update frame; a full table is sent in frames of at most this many */
  maxEntriesPerUpdate: number
  /** largest control frame accepted from a neighbour; a bigger one cuts the link */
  maxControlFrameBytes: number
  /** control bytes queued for a neighbour that does not read; past it the link is dropped */
  maxControlQueueBytes: number
  /** hops a seqno request may travel towards the destination */
  maxSeqnoRequestHops: number
  /** hop limit (TTL) put on a relayed stream: route hops + this slack, capped at `maxRelayHops` */
  relayHopSlack: number
  /** largest hop limit a relayed stream may carry; also the longest relayed path */
  maxRelayHops: number
  /** streams this node relays at once for everyone */
  maxRelayedStreams: number
  /** streams this node relays at once for one neighbour (the previous hop) or one claimed source */
  maxRelayedStreamsPerPeer: number
  /** relayed (end-to-end) connections terminating at this node at once */
  maxRelayedConnections: number
  /** largest broadcast payload */
  maxBroadcastBytes: number
  /** targets named in one broadcast */
  maxBroadcastTargets: number
  /** broadcasts this node forwards or delivers at once */
  maxConcurrentBroadcasts: number
  /** broadcast message IDs remembered for duplicate suppression */
  broadcastSeenCacheSize: number
  /** largest payload of one broadcast reply (what a target's handler sends back to the origin) */
  maxBroadcastReplyBytes: number
  /** reply bytes queued towards a parent before this node stops reading its children (backpressure) */
  broadcastReplyQueueBytes: number
}

export const DEFAULT_ROUTER_LIMITS: Readonly<RouterLimits> = Object.freeze({
  // A fleet of tens of thousands of hosts fits; a peer announcing more (a bug or an attack) cannot exhaust memory.
  maxDestinations: 65_536,
  // ~9 bytes per entry once a destination is bound on the link: a full frame stays under 16 KiB.
  maxEntriesPerUpdate: 1_024,
  // 1,024 entries that all carry a 64-byte peer ID binding are ~80 KiB.
  maxControlFrameBytes: 128 * 1024,
  // A neighbour that lets 4 MiB of routing updates pile up is stuck; routing around it is better than waiting.
  maxControlQueueBytes: 4 * 1024 * 1024,
  // Requests travel along the selected path; 2,048 covers a line of 2,000 nodes.
  maxSeqnoRequestHops: 2_048,
  // Routes may lengthen while a stream is being set up; 8 spare hops absorb that without allowing long loops.
  relayHopSlack: 8,
  // 255 hops is far beyond any sane overlay path and bounds the work a loop can cause.
  maxRelayHops: 255,
  // Each relayed stream costs two muxed streams and their buffers (up to ~2 MiB when a reader stalls).
  maxRelayedStreams: 1_024,
  // One neighbour or source cannot take all relay slots.
  maxRelayedStreamsPerPeer: 128,
  // Each is a Noise session and a yamux muxer.
  maxRelayedConnections: 256,
  // Broadcasts are commands and small files; bulk data belongs on streams.
  maxBroadcastBytes: 1024 * 1024,
  maxBroadcastTargets: 65_536,
  maxConcurrentBroadcasts: 256,
  broadcastSeenCacheSize: 8_192,
  // A reply is a result or a chunk of output; bigger answers belong on a stream.
  maxBroadcastReplyBytes: 64 * 1024,
  // Past this a relay stops reading its children's replies until its parent has taken what is queued.
  broadcastReplyQueueBytes: 256 * 1024,
})

export interface RouterTimers {
  /**
   * minimum spacing of triggered updates: the first change after a quiet spell goes out at once, changes that
   * follow within this window leave together at its end
   */
  triggerDelayMs: number
  /** how often each neighbour gets a digest of our table (jittered ±25%); a mismatch fetches the full table */
  refreshIntervalMs: number
  /** how often a neighbour is pinged (liveness, and RTT for the `rtt` metric) */
  helloIntervalMs: number
  /**
   * a neighbour silent for this long is considered gone: no byte on its connection (control frames can wait behind
   * relayed data on a saturated link, so the data counts too)
   */
  linkTimeoutMs: number
  /** a seqno request unanswered this long is sent again (doubling each time) */
  seqnoRequestTimeoutMs: number
  /** times a seqno request is resent */
  seqnoRequestRetries: number
  /** how long the feasibility distance of a destination without routes is kept (loop freedom) */
  sourceGcMs: number
  /** relay header exchange plus the end-to-end Noise handshake */
  relayHandshakeTimeoutMs: number
  /** a relayed connection with no streams for this long is closed, freeing relay slots on the path */
  relayedIdleTimeoutMs: number
  /** default deadline of a broadcast */
  broadcastTimeoutMs: number
  /** each hop gives its children this much less time than it has, so their reports arrive before its deadline */
  broadcastHopMarginMs: number
  /** how long a broadcast ID is remembered */
  broadcastSeenMs: number
}

export const DEFAULT_ROUTER_TIMERS: Readonly<RouterTimers> = Object.freeze({
  // Long enough to coalesce a burst (a node joining changes many routes at once); a lone change is not delayed.
  triggerDelayMs: 25,
  // Updates travel on reliable ordered streams, so the refresh is only a safety net: cheap and slow.
  refreshIntervalMs: 30_000,
  helloIntervalMs: 5_000,
  // Three missed hellos.
  linkTimeoutMs: 15_000,
  seqnoRequestTimeoutMs: 2_000,
  seqnoRequestRetries: 5,
  // Babel's source GC time (RFC 8966 appendix B).
  sourceGcMs: 180_000,
  relayHandshakeTimeoutMs: 10_000,
  relayedIdleTimeoutMs: 60_000,
  broadcastTimeoutMs: 30_000,
  broadcastHopMarginMs: 200,
  broadcastSeenMs: 5 * 60_000,
})

/** Merges user limits over the defaults; throws a RangeError naming the first bad field. */
export function resolveRouterLimits(user: Partial<RouterLimits> = {}): Readonly<RouterLimits> {
  return Object.freeze(check('limits', { ...DEFAULT_ROUTER_LIMITS, ...user }))
}

/** Merges user timers over the defaults; throws a RangeError naming the first bad field. */
export function resolveRouterTimers(user: Partial<RouterTimers> = {}): Readonly<RouterTimers> {
  const timers = check('timers', { ...DEFAULT_ROUTER_TIMERS, ...user })
  if (timers.linkTimeoutMs <= timers.helloIntervalMs) {
    throw new RangeError(
      `timers.linkTimeoutMs (${timers.linkTimeoutMs}) must exceed timers.helloIntervalMs (${timers.helloIntervalMs})`,
    )
  }
  return Object.freeze(timers)
}

function check<T extends object>(what: string, values: T): T {
  for (const [key, value] of Object.entries(values)) {
    const zeroOk = key === 'relayHopSlack' || key === 'seqnoRequestRetries' || key === 'triggerDelayMs'
    if (typeof value !== 'number' || !Number.isInteger(value) || value < (zeroOk ? 0 : 1)) {
      throw new RangeError(`${what}.${key} must be an integer >= ${zeroOk ? 0 : 1}, got ${String(value)}`)
    }
  }
  const limits = values as Partial<RouterLimits>
  if (limits.maxRelayHops !== undefined && limits.maxRelayHops > 0xffff) {
    throw new RangeError(`limits.maxRelayHops must be <= 65535, got ${limits.maxRelayHops}`)
  }
  if (limits.maxSeqnoRequestHops !== undefined && limits.maxSeqnoRequestHops > 0xffff) {
    throw new RangeError(`limits.maxSeqnoRequestHops must be <= 65535, got ${limits.maxSeqnoRequestHops}`)
  }
  return values
}
