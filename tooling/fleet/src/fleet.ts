/**
 * startFleet: N agents on this machine, wired in a topology, torn down whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKey, loadOrCreateKey, peerIdFromKey, tcp } from '@pnet/network'
import { createNode } from '@pnet/node'
import { FleetConfigError, FleetConvergeError, FleetStartError } from './errors.js'
import type { AgentSpec, Started } from './ipc.js'
import {
  CONVERGE_TIMEOUT_MS,
  DEDICATED_PROCESS_MAX_AGENTS,
  MAX_AGENTS,
  MAX_AGENTS_PER_PROCESS,
  SHARED_AGENTS_PER_PROCESS,
  START_CONCURRENCY,
  START_TIMEOUT_MS,
  STOP_GRACE_MS,
} from './limits.js'
import { entryPoint, exited, spawnAgentProcess, Worker } from './processes.js'
import { descendants, signal, waitGone } from './procs.js'
import { depths, levels, parents, TOPOLOGIES, type TopologyName } from './topology.js'

export interface FleetOptions {
  /** agents to start (1 … {@link MAX_AGENTS}) */
  count: number
  /** how agents join each other (default `tree`); agent 0 is the root */
  topology?: TopologyName
  /** children per agent in a `tree` (default 3) */
  branching?: number
  /** seed of the `random` topology */
  seed?: number
  /**
   * Agents per process. 1: every agent is a real `ops-agent agent` process (the CLI an operator runs). More: worker
   * processes each host that many agents, each still with its own identity, listener and connections. Default: 1 up
   * to 16 agents, else 25.
   */
  agentsPerProcess?: number
  /** peer IDs of the controllers the agents obey; when absent, the fleet makes a controller key and trusts it */
  trust?: string[]
  /** extra tags per agent (index 0 is the root); merged over the fleet's own `hostname` tag, so they may replace it */
  tags?: (index: number) => Record<string, string>
  /** hostname tags are `<prefix>-<index>` (default `agent`: agent-000, agent-001, …) */
  hostPrefix?: string
  /** data dirs, logs and keys go here (default: a new temporary dir, removed by stop()) */
  dir?: string
  /** only TCP for now: every agent listens on its own port */
  transport?: 'tcp'
  /** address agents listen on (default 127.0.0.1) */
  host?: string
  /** the agents' link keepalive (ops-agent defaults when absent) */
  keepalive?: { intervalMs?: number; timeoutMs?: number }
  /** agents' log level (default `warn`); logs go to DATA_DIR/agent.log, or WORKER.log for shared processes */
  logLevel?: string
  /** extra Node.js flags for every agent or worker process (e.g. `['--cpu-prof', '--cpu-prof-dir', dir]`) */
  nodeArgs?: string[]
  /** wait until the root has a route to every agent (default true) */
  waitForRoutes?: boolean
  startTimeoutMs?: number
  convergeTimeoutMs?: number
  /** aborts a start in progress (everything started so far is torn down) */
  signal?: AbortSignal
}

export interface FleetAgent {
  index: number
  peer: string
  /** the agent's TCP multiaddr, /p2p/<id> included */
  addr: string
  /** its hostname tag */
  host: string
  tags: Record<string, string>
  dataDir: string
  /** the process it runs in (shared with other agents when agentsPerProcess > 1) */
  pid: number
  /** index of the agent it joined (-1 for the root) */
  parent: number
  /** hops from the root */
  depth: number
  /** false once kill()ed */
  alive: boolean
}

export interface ProcessStats {
  pid: number
  agents: number
  rssBytes: number
  /** user + system CPU time so far */
  cpuMs: number
}

export interface Fleet {
  readonly agents: readonly FleetAgent[]
  /** the root agent's address: the one a controller joins through */
  readonly root: string
  readonly dir: string
  readonly topology: TopologyName
  readonly agentsPerProcess: number
  /** present when the fleet made the controller key itself (no `trust` given) */
  readonly controller: { keyFile: string; peer: string } | undefined
  /** every process the fleet runs now (agents or workers) */
  pids(): number[]
  /** memory and CPU of each process (from /proc) */
  stats(): ProcessStats[]
  /**
   * Kills agent `index`. With one agent per process this is a real signal (SIGTERM: graceful stop; SIGKILL: a
   * crash). In a shared process: SIGKILL resets its connections without a goodbye, as neighbours see a crash; any
   * other signal stops it gracefully. Resolves when it is gone.
   */
  kill(index: number, sig?: NodeJS.Signals): Promise<void>
  /**
   * Runs `fn` with the V8 CPU profiler on in every worker process; writes `worker-N.cpuprofile` files to `dir` (open
   * them in Chrome DevTools or summarize them). Only for fleets whose agents share worker processes.
   */
  cpuProfile<T>(dir: string, fn: () => Promise<T>): Promise<T>
  /** stops every agent (gracefully, then by force after 10 s), kills what they left running, removes a temp dir */
  stop(options?: { graceful?: boolean }): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Fleets alive in this process: killed on exit if nobody stopped them (a test that threw, a forgotten stop). */
const live = new Set<{ killNow(): void }>()
let exitHook = false
function onExit(): void {
  for (const f of live) f.killNow()
}

function pad(i: number, count: number): string {
  return String(i).padStart(Math.max(3, String(count - 1).length), '0')
}

function readProc(pid: number): { rssBytes: number; cpuMs: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the name), in clock ticks (100 Hz on Linux)
    const ticks = Number(f[11]) + Number(f[12])
    return { rssBytes: rssKb * 1024, cpuMs: ticks * 10 }
  } catch {
    return { rssBytes: 0, cpuMs: 0 }
  }
}

/** Runs `fn` over `items` with at most `limit` at once; rejects with the first failure (after all settle). */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  let failure: unknown
  const lane = async (): Promise<void> => {
    while (queue.length > 0 && failure === undefined) {
      try {
        await fn(queue.shift()!)
      } catch (err) {
        failure ??= err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  if (failure !== undefined) throw failure
}

/**
 * Agents per process when the caller does not say: small fleets are real `ops-agent agent` processes (one each),
 * bigger ones share worker processes.
 *
 * @example
 * ```ts
 * defaultAgentsPerProcess(12)    // 1
 * defaultAgentsPerProcess(500)   // 25
 * ```
 */
export function defaultAgentsPerProcess(count: number): number {
  return count <= DEDICATED_PROCESS_MAX_AGENTS ? 1 : SHARED_AGENTS_PER_PROCESS
}

function validate(opts: FleetOptions): { perProcess: number; topology: TopologyName } {
  const { count } = opts
  if (!Number.isInteger(count) || count < 1)
    throw new FleetConfigError(`count must be a positive integer, got ${count}`)
  if (count > MAX_AGENTS)
    throw new FleetConfigError(`count ${count} is over the limit of ${MAX_AGENTS} agents (MAX_AGENTS)`)
  const topology = opts.topology ?? 'tree'
  if (!TOPOLOGIES.includes(topology)) {
    throw new FleetConfigError(`unknown topology "${topology}" (one of ${TOPOLOGIES.join(', ')})`)
  }
  const perProcess = opts.agentsPerProcess ?? defaultAgentsPerProcess(count)
  if (!Number.isInteger(perProcess) || perProcess < 1 || perProcess > MAX_AGENTS_PER_PROCESS) {
    throw new FleetConfigError(
      `agentsPerProcess must be an integer from 1 to ${MAX_AGENTS_PER_PROCESS} (MAX_AGENTS_PER_PROCESS), got ${perProcess}`,
    )
  }
  if ((opts.transport ?? 'tcp') !== 'tcp')
    throw new FleetConfigError(`transport "${opts.transport}" is not supported (tcp)`)
  return { perProcess, topology }
}

/**
 * Starts `count` agents on this machine, each with its own identity, data dir, listener and connections, every agent
 * joining its parent in `topology` (it knows only its parent's address). Resolves once every agent is up and (unless
 * `waitForRoutes: false`) the root has a route to each of them. Whatever fails, everything started is torn down;
 * processes never outlive the process that started them (a detached reaper kills them if it dies).
 *
 * @example
 * ```ts
 * import { startFleet } from '@pnet/fleet'
 * import { execute, joinFleet, parseSelectors } from 'ops-agent'
 * import { loadOrCreateKey } from '@pnet/network'
 *
 * await using fleet = await startFleet({ count: 12, topology: 'tree' })
 * const key = await loadOrCreateKey(fleet.controller!.keyFile)
 * const overlay = await joinFleet({ key, via: fleet.root })
 * const run = await execute({ key, fleet: overlay, selectors: parseSelectors(['*']), command: { argv: ['hostname'] } })
 * console.log(run.summary.ok)   // 12
 * await overlay.close()
 * ```
 */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const { perProcess, topology } = validate(opts)
  const { count } = opts
  const parentOf = parents(count, topology, { branching: opts.branching, seed: opts.seed })
  const depthOf = depths(parentOf)
  const madeDir = opts.dir === undefined
  const dir = madeDir ? await mkdtemp(join(tmpdir(), 'pnet-fleet-')) : resolve(opts.dir!)
  await mkdir(dir, { recursive: true })
  const host = opts.host ?? '127.0.0.1'
  const startTimeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS
  const logLevel = opts.logLevel ?? 'warn'

  let controller: Fleet['controller']
  let trust = opts.trust ?? []
  if (opts.trust === undefined) {
    const keyFile = join(dir, 'controller.key')
    controller = { keyFile, peer: peerIdFromKey(await loadOrCreateKey(keyFile)).toString() }
    trust = [controller.peer]
  }
  if (trust.length === 0) throw new FleetConfigError('trust must name at least one controller peer ID')

  // the reaper: if this process dies without stop(), it kills everything below (its stdin ends when we die)
  const reaper = spawn(process.execPath, [entryPoint('reaper.js')], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  reaper.unref()
  ;(reaper.stdin as unknown as { unref?: () => void }).unref?.()
  reaper.stdin?.on('error', () => undefined)
  const tell = (line: string): void => {
    reaper.stdin?.write(`${line}\n`)
  }
  if (madeDir) tell(`dir ${dir}`)

  const children = new Set<ChildProcess>()
  const track = (child: ChildProcess): void => {
    children.add(child)
    if (child.pid !== undefined) tell(`+${child.pid}`)
    child.once('exit', () => {
      children.delete(child)
      if (child.pid !== undefined) tell(`-${child.pid}`)
    })
  }
  /** processes left by killed agents (a command still running): killed by stop() */
  const leftovers = new Set<number>()
  const self = {
    killNow(): void {
      const pids = [...children].map(c => c.pid!).filter(p => p !== undefined)
      for (const pid of [...pids, ...descendants(pids), ...leftovers]) signal(pid, 'SIGKILL')
    },
  }
  live.add(self)
  if (!exitHook) {
    exitHook = true
    process.once('exit', onExit)
  }

  const workers: Worker[] = []
  const agentProcs = new Map<number, ChildProcess>()
  const agents: FleetAgent[] = []
  let stopped = false

  async function teardown(graceful: boolean): Promise<void> {
    if (stopped) return
    stopped = true
    const pids = [...children].map(c => c.pid!).filter(p => p !== undefined)
    const below = descendants(pids)
    for (const pid of below) tell(`+${pid}`)
    if (graceful) {
      for (const child of agentProcs.values()) child.kill('SIGTERM')
      await Promise.allSettled(workers.map(w => w.request({ op: 'shutdown' }, STOP_GRACE_MS)))
      for (const w of workers) if (w.child.connected) w.child.disconnect()
      const all = [...children]
      await Promise.race([Promise.all(all.map(exited)), new Promise(r => setTimeout(r, STOP_GRACE_MS))])
    }
    for (const child of children) child.kill('SIGKILL')
    await Promise.all([...children].map(exited))
    // commands the agents ran (their own process groups) and those of agents killed earlier
    for (const pid of [...below, ...leftovers]) signal(pid, 'SIGKILL')
    await waitGone([...below, ...leftovers], 5_000)
    tell('done')
    reaper.stdin?.end()
    live.delete(self)
    if (madeDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  }

  try {
    const abortIfAsked = (): void => {
      if (opts.signal?.aborted === true) throw new FleetStartError('fleet start aborted')
    }
    if (perProcess > 1) {
      for (let w = 0; w * perProcess < count; w++) {
        const worker = new Worker(
          w,
          join(dir, `worker-${pad(w, Math.ceil(count / perProcess))}.log`),
          opts.nodeArgs ?? [],
        )
        track(worker.child)
        workers.push(worker)
      }
      await Promise.all(workers.map(w => w.ready()))
    }
    const specOf = (i: number): AgentSpec => {
      const hostname = `${opts.hostPrefix ?? 'agent'}-${pad(i, count)}`
      const parent = parentOf[i]!
      return {
        index: i,
        dataDir: join(dir, hostname),
        listen: [`/ip4/${host}/tcp/0`],
        join: parent < 0 ? [] : [agents[parent]!.addr],
        tags: { hostname, ...opts.tags?.(i) },
        trust,
        keepalive: opts.keepalive,
        logLevel,
      }
    }
    const startOne = async (i: number): Promise<void> => {
      abortIfAsked()
      const spec = specOf(i)
      await mkdir(spec.dataDir, { recursive: true, mode: 0o700 })
      let started: Started
      let pid: number
      if (perProcess === 1) {
        const r = await spawnAgentProcess(spec, startTimeoutMs, track, opts.nodeArgs ?? [])
        agentProcs.set(i, r.child)
        started = r.started
        pid = r.child.pid!
      } else {
        const worker = workers[Math.floor(i / perProcess)]!
        started = await worker.request<Started>({ op: 'start', spec }, startTimeoutMs)
        pid = worker.pid
      }
      const addr = started.addrs.find(a => a.includes('/tcp/')) ?? started.addrs[0]!
      agents[i] = {
        index: i,
        peer: started.peer,
        addr,
        host: spec.tags.hostname!,
        tags: spec.tags,
        dataDir: spec.dataDir,
        pid,
        parent: parentOf[i]!,
        depth: depthOf[i]!,
        alive: true,
      }
    }
    // a level at a time: an agent's parent is always listening before the agent starts
    const concurrency = perProcess === 1 ? START_CONCURRENCY : START_CONCURRENCY * 4
    for (const level of levels(parentOf)) await pool(level, concurrency, startOne)
    abortIfAsked()
    if (opts.waitForRoutes !== false) {
      await awaitRoutes(agents[0]!.addr, agents, {
        connectTimeoutMs: startTimeoutMs,
        timeoutMs: opts.convergeTimeoutMs ?? CONVERGE_TIMEOUT_MS,
        signal: opts.signal,
      })
    }
  } catch (err) {
    await teardown(false)
    throw err
  }

  const fleet: Fleet = {
    agents,
    root: agents[0]!.addr,
    dir,
    topology,
    agentsPerProcess: perProcess,
    controller,
    pids: () => [...children].map(c => c.pid!).filter(p => p !== undefined),
    stats(): ProcessStats[] {
      const byPid = new Map<number, number>()
      for (const a of agents) if (a.alive) byPid.set(a.pid, (byPid.get(a.pid) ?? 0) + 1)
      return [...byPid].map(([pid, n]) => ({ pid, agents: n, ...readProc(pid) }))
    },
    async kill(index: number, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
      const agent = agents[index]
      if (agent === undefined) throw new FleetConfigError(`no agent ${index} (the fleet has ${agents.length})`)
      if (!agent.alive) return
      agent.alive = false
      if (perProcess === 1) {
        const child = agentProcs.get(index)!
        for (const pid of descendants([child.pid!])) {
          leftovers.add(pid)
          tell(`+${pid}`)
        }
        child.kill(sig)
        await exited(child)
      } else {
        await workers[Math.floor(index / perProcess)]!.request(
          { op: 'stop', index, abrupt: sig === 'SIGKILL' },
          STOP_GRACE_MS,
        )
      }
    },
    async cpuProfile<T>(out: string, fn: () => Promise<T>): Promise<T> {
      if (workers.length === 0) {
        throw new FleetConfigError(
          'cpuProfile needs agents in worker processes (agentsPerProcess > 1); profile real agent processes with nodeArgs: ["--cpu-prof"]',
        )
      }
      await mkdir(out, { recursive: true })
      await Promise.all(workers.map(w => w.request({ op: 'profile-start' }, STOP_GRACE_MS)))
      try {
        return await fn()
      } finally {
        await Promise.all(
          workers.map((w, i) =>
            w.request(
              { op: 'profile-stop', file: join(out, `worker-${pad(i, workers.length)}.cpuprofile`) },
              STOP_GRACE_MS,
            ),
          ),
        )
      }
    },
    stop: (options = {}) => teardown(options.graceful ?? true),
    [Symbol.asyncDispose]: () => teardown(true),
  }
  return fleet
}

/**
 * Joins a throwaway node to `root` and waits until it has a route to every one of `agents` (what a controller joining
 * there would see); throws {@link FleetConvergeError} naming the missing ones after `timeoutMs`.
 *
 * @example
 * ```ts
 * await awaitRoutes(fleet.root, fleet.agents.filter(a => a.alive), { timeoutMs: 10_000 })
 * ```
 */
export async function awaitRoutes(
  root: string,
  agents: readonly Pick<FleetAgent, 'peer' | 'host'>[],
  options: { connectTimeoutMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? CONVERGE_TIMEOUT_MS
  const probe = await createNode({ key: await generateKey(), transports: [tcp()] })
  await probe.start()
  try {
    await probe.connect(root, { signal: AbortSignal.timeout(options.connectTimeoutMs ?? START_TIMEOUT_MS) })
    const deadline = Date.now() + timeoutMs
    const want = new Set(agents.map(a => a.peer))
    for (;;) {
      const have = new Set(probe.reachable().map(String))
      const missing = [...want].filter(p => !have.has(p))
      if (missing.length === 0) return
      if (options.signal?.aborted === true) throw new FleetStartError('fleet start aborted')
      if (Date.now() >= deadline) {
        const names = agents.filter(a => missing.includes(a.peer)).map(a => a.host)
        throw new FleetConvergeError(
          `no route from the root to ${missing.length} of ${agents.length} agents after ${timeoutMs} ms: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`,
        )
      }
      await new Promise(r => setTimeout(r, 50))
    }
  } finally {
    await probe.stop({ drainMs: 500 })
  }
}
