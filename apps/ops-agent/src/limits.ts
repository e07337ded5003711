/**
 * Limits and defaults of ops-agent, each with why.
 */

/** Command timeout when --timeout is not given (pdsh has none; Ansible ad-hoc defaults to none either; 30 s keeps a
 * hung host from holding the whole run). */
export const DEFAULT_TIMEOUT_MS = 30_000
/** After SIGTERM, how long a command's process group gets before SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 5_000
/** Output kept per stream per host; past it output is dropped and the result marked truncated. */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024
/** Output is sent to the controller in pieces of at most this many bytes (32 KiB once base64-encoded). */
export const OUTPUT_CHUNK_BYTES = 24 * 1024
/** Reports leave in signed batches of about this size at most; a batch must fit one broadcast reply (64 KiB). */
export const REPORT_BATCH_BYTES = 48 * 1024
/** Output waits at most this long for more output to share its batch (and signature). */
export const REPORT_FLUSH_MS = 20
/** A job may be executed up to this long after it was signed (clock skew and queueing included); later it is refused. */
export const JOB_TTL_MS = 10 * 60_000
/** A job signed this far in the future is refused (clocks must roughly agree). */
export const MAX_CLOCK_SKEW_MS = 2 * 60_000
/** Results of finished jobs are kept in the agent's data dir this long (for `ops-agent job ID`). */
export const RESULT_RETENTION_MS = 7 * 24 * 3_600_000
/** Output kept per stream with a job's record for `ops-agent job ID` (the live stream has MAX_OUTPUT_BYTES). */
export const STORED_OUTPUT_BYTES = 1024 * 1024
/** Push chunks: each is one broadcast (router limit 1 MiB); 256 KiB keeps a few in flight per hop cheap. */
export const PUSH_CHUNK_BYTES = 256 * 1024
export const MAX_PUSH_CHUNK_BYTES = 512 * 1024
/** Push chunks in flight at once from the controller (each relay holds at most this many per child). */
export const PUSH_WINDOW = 8
/** Push tree streams (agent/push-tree.ts): bytes queued per child, and locally not yet written, before a hop stops
 * reading its parent. Large enough that a hop never waits on a write or a child between two reads, small enough that a
 * thousand-host push holds a few MiB per relay. */
export const PUSH_TREE_QUEUE_BYTES = 2 * 1024 * 1024
/** A child of a push tree hop that takes no bytes for PUSH_TREE_STALL_MS + (MAX_PUSH_TREE_HOPS − hop) ×
 * PUSH_TREE_STALL_STEP_MS (its queue full) is cut off and its targets failed: one stuck host must not hold the file
 * back from the rest of the tree until the push's deadline (minutes). Deeper hops cut sooner, so the cut happens just
 * above the stuck host (the hop above that, waiting on it meanwhile, gives it a step longer). */
export const PUSH_TREE_STALL_MS = 5_000
export const PUSH_TREE_STALL_STEP_MS = 1_000
/** Links a push tree stream may cross (a route tree is shallow; this bounds a transient routing loop). */
export const MAX_PUSH_TREE_HOPS = 16
/** Targets one push tree stream may name (its header carries them all: ≤ 65 bytes each). */
export const MAX_PUSH_TREE_TARGETS = 65_536
/** Push tree streams a relay serves at once (each a push in progress through it). */
export const MAX_PUSH_TREE_STREAMS = 64
/** Largest signed job accepted (a script is pushed inside its job). */
export const MAX_JOB_BYTES = 1024 * 1024
/** Commands running at once on one agent; more wait their turn. */
export const MAX_CONCURRENT_COMMANDS = 64
/** After the command exits, how long its output pipes may stay open (a backgrounded child holding them) before we stop
 * reading them. */
export const OUTPUT_DRAIN_MS = 2_000
/** An idle command launcher (agent/launcher.ts) exits after this long without a command, giving its memory back. */
export const LAUNCHER_IDLE_MS = 30_000
/** Output kept per stream per host in the controller's job history; longer output keeps its first and last halves
 * around a marker saying how much was left out (500 hosts × 16 MiB would make a history nobody can keep). */
export const MAX_HISTORY_OUTPUT_BYTES = 64 * 1024
/** How long a writer waits for another controller's write to the same history database before giving up. */
export const HISTORY_BUSY_TIMEOUT_MS = 5_000
/** Largest agent configuration file read (a config is a few hundred bytes; anything near this is a wrong file). */
export const MAX_CONFIG_BYTES = 256 * 1024
/** How long `ops-agent status` watches the CPU counters to compute CPU use. */
export const STATUS_CPU_SAMPLE_MS = 250
/** Exit status of an agent that restarts into a new release (EX_TEMPFAIL): the supervisor or systemd starts it again. */
export const UPGRADE_RESTART_EXIT_CODE = 75
/** Time a new release has, after the old agent exits, to start and rejoin the overlay (`upgrade --health-timeout`);
 * covers the supervisor's 1 s and systemd's 5 s restart delay and a slow first start. */
export const DEFAULT_UPGRADE_HEALTH_MS = 60_000
/** Bounds of --health-timeout: shorter cannot cover a restart; longer leaves a host without an agent too long. */
export const MIN_UPGRADE_HEALTH_MS = 2_000
export const MAX_UPGRADE_HEALTH_MS = 10 * 60_000
/** How long the upgrade watchdog gives a new release it rolls back from to exit after SIGTERM before SIGKILL. */
export const UPGRADE_KILL_GRACE_MS = 5_000
