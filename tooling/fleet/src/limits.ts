/**
 * Limits and defaults of @pnet/fleet, each with why.
 */

/** Most agents one fleet starts: 2,000 fit in the memory of a 24 GB test machine with room to spare (see README). */
export const MAX_AGENTS = 2_000

/** Most agents sharing one worker process: beyond this one event loop serves too many agents for their timers
 * (keepalives, route updates) to stay honest. */
export const MAX_AGENTS_PER_PROCESS = 100

/** Agents per worker process when the caller does not say: at most this many agents a fleet starts as real
 * `ops-agent agent` processes (one each); bigger fleets share processes, {@link SHARED_AGENTS_PER_PROCESS} each. */
export const DEDICATED_PROCESS_MAX_AGENTS = 16

/** Agents per worker process in a big fleet (chosen from the RSS measured per agent: see README). */
export const SHARED_AGENTS_PER_PROCESS = 25

/** Children per agent in a `tree` when not given. */
export const DEFAULT_BRANCHING = 3

/** An agent (or worker process) that is not listening and joined within this long counts as failed to start. */
export const START_TIMEOUT_MS = 60_000

/** Agents started at once: more only make a 2-core machine thrash (process start is CPU bound). */
export const START_CONCURRENCY = 8

/** How long the root may take to have a route to every agent once all are up. */
export const CONVERGE_TIMEOUT_MS = 60_000

/** stop(): how long agents get to stop gracefully (SIGTERM) before they are killed. */
export const STOP_GRACE_MS = 10_000
