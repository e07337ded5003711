/**
 * Limits and defaults of the lab, each with why.
 */

/** Most hosts one lab builds: 198.18.0.0/15 holds 32,768 point-to-point /30 links, namespaces cost ~1 MB each. */
export const MAX_HOSTS = 256

/** Every namespace and veth of a lab starts with this, then the owning process ID (base 36), so a sweep can tell
 * stale ones (owner gone) from those of a lab running in parallel. */
export const NAME_PREFIX = 'pnl'

/** The benchmarking range (RFC 2544): lab links get /30s out of 198.18.0.0/15 and nothing else. */
export const LAB_NET = { first: (198 << 24) | (18 << 16), size: 1 << 17 } as const

/** TCP port every lab process listens on, on each of its host's link addresses. */
export const LAB_PORT = 4001

/** How long a started process may take to print its `listening` lines. */
export const START_TIMEOUT_MS = 30_000

/** Keepalive used by lab processes: fast enough that a cut link is noticed in ~2 s, slow enough for 2 loaded cores. */
export const LAB_KEEPALIVE = Object.freeze({ intervalMs: 500, timeoutMs: 2_000 })
