/**
 * Every limit of @pnet/channel in one place, with its default and why. Wire limits (the `MAX_*` constants) are part
 * of the protocol (docs/protocol/channel.md); the registry limits ({@link ChannelLimits}) are tunable per registry.
 */

/** multistream-select 1.0.0 messages, newline included (go-libp2p's and js-libp2p's limit). */
export const MAX_MULTISTREAM_MESSAGE_BYTES = 1024

/** A channel name is a protocol ID: its bytes plus the newline must fit one multistream message. */
export const MAX_CHANNEL_NAME_BYTES = MAX_MULTISTREAM_MESSAGE_BYTES - 1

/**
 * Multistream messages a callee reads on one stream before giving up: a caller that keeps proposing unknown
 * protocols (or repeating the multistream header) is wasting our time.
 */
export const MAX_PROPOSALS = 16

/** One pnet handshake frame (HELLO, CHALLENGE, PROOF, ACCEPT, REJECT), length prefix excluded. */
export const MAX_HEADER_FRAME_BYTES = 16 * 1024

/** A length prefix longer than this many bytes is malformed (8 bytes encode any safe integer). */
export const MAX_VARINT_BYTES = 8

/** Metadata maps: entries, key bytes (printable ASCII), value bytes (UTF-8). 32 × (64 + 1024) still fits a frame. */
export const MAX_METADATA_ENTRIES = 32
export const MAX_METADATA_KEY_BYTES = 64
export const MAX_METADATA_VALUE_BYTES = 1024

/** Credentials in a HELLO: how many schemes, how long a scheme name, how many bytes each. */
export const MAX_CREDENTIALS = 4
export const MAX_SCHEME_BYTES = 32
export const MAX_CREDENTIAL_BYTES = 4096

/** Challenge rounds the callee's auth policy may run in one handshake (psk needs one). */
export const MAX_CHALLENGES = 4

/** Version numbers are u16; 0 is reserved for channels without a pnet header. */
export const MIN_VERSION = 1
export const MAX_VERSION = 0xffff

/** Version ranges a REJECT lists as "what the callee supports" (a longer list is cut, the caller sees a prefix). */
export const MAX_VERSION_RANGES = 16

/** Reason strings in REJECT frames and auth denials (longer ones are cut at a character boundary). */
export const MAX_REASON_BYTES = 512

/** The caller's nonce in a HELLO (and the callee's in a psk challenge): 256 bits. */
export const NONCE_BYTES = 32

/** Pre-shared keys shorter than this are refused: the HMAC proof is only as strong as the key. */
export const MIN_PSK_BYTES = 16

/** Capability tokens: whole token, claims, audience peers. */
export const MAX_TOKEN_BYTES = 4096
export const MAX_TOKEN_CLAIMS = 16
export const MAX_TOKEN_AUDIENCE = 16

/** Clocks of issuer, caller and callee may disagree by this much when checking notBefore / expiry. */
export const DEFAULT_TOKEN_CLOCK_SKEW_MS = 60_000

/** Single-use token IDs remembered (until their expiry) to refuse replays; when full, single-use tokens are refused. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 100_000

/** Application messages: default per-channel read limit, and the largest a channel may allow (use raw bytes above). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
export const MAX_MESSAGE_BYTES_CAP = 64 * 1024 * 1024

/** RPC error frames: the remote error's name and message are cut to these sizes. */
export const MAX_ERROR_NAME_BYTES = 128
export const MAX_ERROR_MESSAGE_BYTES = 4096

/** Concurrent handler invocations per channel (all peers together) when `maxConcurrent` is not given. */
export const DEFAULT_MAX_CONCURRENT = 1024

/** How long a callee lingers after a REJECT for the caller to close before the stream is reset. */
export const REJECT_LINGER_MS = 2_000

/** Bytes a callee discards from a rejected caller while lingering; more and the stream is reset at once. */
export const REJECT_DRAIN_BYTES = 64 * 1024

/** How long closing a stream after its handler returned may take before the stream is reset. */
export const HANDLER_CLOSE_TIMEOUT_MS = 5_000

/**
 * Strike scores (see `protocolStrikes`) leak this much per second: a peer that wastes fewer than one stream a second
 * on average is never cut off, and one that stopped is forgiven within `2 × protocolStrikes` seconds.
 */
export const STRIKE_LEAK_PER_SECOND = 1

/** Peers whose strike scores a registry remembers (~100 bytes each); past it the least recently charged is forgotten. */
export const MAX_STRIKE_PEERS = 4096

/**
 * Strikes for a frame whose length prefix declares more than the wire allows (a 1 GiB header, say): no correct
 * implementation sends one, so a few cut the connection. The frame's body is never read.
 */
export const OVERSIZED_FRAME_STRIKES = 8

/**
 * Strikes for a wasted stream: one that asked only for channels nobody handles, or was reset or closed before its
 * handshake ended. Legitimate peers do this too — probing whether a channel exists, cancelling an open that lost a
 * race or timed out on their side — so it costs a quarter of a strike: a peer is cut only after 4 × protocolStrikes
 * in a burst (128 by default) or more than 4 a second for long, while a stream bomb (thousands a second) is still cut
 * within a fraction of a second. Protocol violations and handshake timeouts cost a whole strike.
 */
export const WASTED_STREAM_STRIKES = 0.25

/** Tunable limits of one channel registry; every field has a default in {@link DEFAULT_CHANNEL_LIMITS}. */
export interface ChannelLimits {
  /** ms from an inbound stream's arrival to the end of its handshake (selection, header, auth); slowloris stops here */
  handshakeTimeoutMs: number
  /** inbound streams mid-handshake at once, all peers together; more are reset on arrival */
  maxPendingHandshakes: number
  /** inbound streams mid-handshake at once from one peer */
  maxPendingHandshakesPerPeer: number
  /**
   * strike score at which a peer's connection is aborted. A strike is a handshake protocol violation
   * (OVERSIZED_FRAME_STRIKES for a frame over a wire limit) or a handshake timeout; an inbound stream that ended
   * without completing its handshake (it asked only for unknown channels, or was reset or closed first) costs
   * WASTED_STREAM_STRIKES. Scores are per peer and outlive
   * the connection, leaking STRIKE_LEAK_PER_SECOND: a peer that reconnects and carries on is cut at its next strike.
   */
  protocolStrikes: number
}

export const DEFAULT_CHANNEL_LIMITS: Readonly<ChannelLimits> = Object.freeze({
  // same as the network's handshake: tolerant of loaded hosts and slow links, yet bounds a stalled header
  handshakeTimeoutMs: 10_000,
  // a handshake holds a few KiB at most; 256 × 16 KiB frames is a 4 MiB worst case
  maxPendingHandshakes: 256,
  // one peer cannot take all the handshake slots
  maxPendingHandshakesPerPeer: 32,
  // one bad stream closes that stream only; a peer that keeps doing it (32 violations or 128 wasted streams in a
  // burst, or more than one violation or four wasted streams a second for long) loses the connection
  protocolStrikes: 32,
})

/**
 * Merges user limits over the defaults; rejects nonsense with a message naming the field.
 *
 * @example
 * ```ts
 * resolveChannelLimits({ handshakeTimeoutMs: 2_000 }).maxPendingHandshakes   // 256
 * ```
 */
export function resolveChannelLimits(user: Partial<ChannelLimits> = {}): Readonly<ChannelLimits> {
  const limits = { ...DEFAULT_CHANNEL_LIMITS, ...user }
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
      throw new RangeError(`limits.${key} must be a number >= 1, got ${String(value)}`)
    }
  }
  return Object.freeze(limits)
}
