/**
 * The agent: a pnet node on a fleet host that runs jobs for the controllers it trusts.
 *
 * Jobs arrive by broadcast along the routing tree, signed by the controller (so relaying agents cannot forge or alter
 * them). The agent checks the signature, the trust list, expiry and the target list, claims the job ID in its data
 * dir (at most once, whatever happens), writes one audit line, runs the command, and answers with signed reports
 * that flow back up the broadcast tree: output as it comes, then the result. It needs no route to the controller.
 */

import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { rpcHandler } from '@pnet/channel'
import { type Logger, loadOrCreateKey, silentLogger, type TransportFactory } from '@pnet/network'
import { createNode, type KeepaliveOptions, type Node, type ReconnectOptions } from '@pnet/node'
import { MAX_CONCURRENT_COMMANDS, OUTPUT_CHUNK_BYTES, STORED_OUTPUT_BYTES } from '../limits.js'
import { type CommandSpec, decodeSignedJob, type Job, JobRefusedError, verifyJob } from '../protocol/job.js'
import {
  type AgentInfo,
  type FinalReport,
  type HostStatus,
  INFO_CHANNEL,
  type InfoReply,
  JOB_CHANNEL,
  OPS_VERSION,
} from '../protocol/reports.js'
import { AuditLog } from './audit.js'
import { lookupUser, type OutputStream, type RunResult, runCommand } from './executor.js'
import { JobStore } from './job-store.js'
import { PushReceiver } from './push.js'
import { Reporter } from './reporter.js'
import { hostStatus } from './status.js'
import { agentTags } from './tags.js'
import { handleUninstall } from './uninstall.js'
import { confirmUpgrade, handleUpgrade, type LifecycleContext } from './upgrade.js'

export interface AgentInit {
  /** identity (agent.key), job records and audit.log live here */
  dataDir: string
  listen: string[]
  join?: string[]
  /** the agent's own tags (hostname, os and arch are added) */
  tags?: Record<string, string>
  /** peer IDs of the controllers whose jobs this agent runs */
  trust: string[]
  transports?: TransportFactory[]
  keepalive?: Partial<KeepaliveOptions>
  reconnect?: Partial<ReconnectOptions>
  logger?: Logger
  /**
   * ends the process after an upgrade (exit code UPGRADE_RESTART_EXIT_CODE, the supervisor restarts it into the new
   * release) or an uninstall; default `process.exit`
   */
  exit?: (code: number) => void
}

export interface Agent {
  readonly node: Node
  readonly info: AgentInfo
  /** jobs running now */
  running(): number
  stop(): Promise<void>
}

/**
 * Starts an agent.
 *
 * @example
 * ```ts
 * const agent = await startAgent({ dataDir: '/var/lib/ops-agent', listen: ['tcp://0.0.0.0:4001'],
 *   join: ['tcp://10.0.0.1:4001'], trust: [controllerId], tags: { role: 'web' } })
 * ```
 */
export async function startAgent(init: AgentInit): Promise<Agent> {
  if (init.trust.length === 0) throw new TypeError('an agent needs at least one trusted controller (--trust PEER_ID)')
  const trusted = new Set(init.trust.map(t => peerIdFromString(t).toString()))
  await mkdir(init.dataDir, { recursive: true, mode: 0o700 })
  const key = await loadOrCreateKey(join(init.dataDir, 'agent.key'))
  const log = init.logger ?? silentLogger
  const node = await createNode({
    key,
    listen: init.listen,
    join: init.join,
    transports: init.transports,
    keepalive: init.keepalive,
    reconnect: init.reconnect,
    logger: log,
  })
  const store = new JobStore(init.dataDir)

  const lost = await store.init()
  const audit = new AuditLog(join(init.dataDir, 'audit.log'))
  for (const id of lost)
    await audit.write({
      job: id,
      kind: 'exec',
      controller: '',
      decision: 'finished',
      status: 'lost',
      reason: 'the agent stopped while the job ran',
    })
  const info: AgentInfo = { peer: node.id.toString(), tags: agentTags(init.tags), version: OPS_VERSION }
  const running = new Map<string, AbortController>()
  const pushes = new PushReceiver({ node, log, host: info.tags.hostname ?? info.peer })
  let slots = MAX_CONCURRENT_COMMANDS
  const waiting: (() => void)[] = []
  const acquire = async (): Promise<void> => {
    if (slots > 0) {
      slots--
      return
    }
    await new Promise<void>(r => waiting.push(r))
  }
  const release = (): void => {
    const next = waiting.shift()
    if (next !== undefined) next()
    else slots++
  }

  /** Handles one job broadcast; resolves after its last report has been handed to the link. */
  async function onJob(
    payload: Uint8Array,
    reply: (bytes: Uint8Array) => Promise<void>,
    upstream: AbortSignal,
  ): Promise<void> {
    const reporter = (id: string): Reporter => new Reporter(key, id, reply, log)
    let job: Job
    let claimed: Job | undefined
    try {
      const signed = decodeSignedJob(payload)
      claimed = signed.job
      job = await verifyJob(signed, { trusted })
    } catch (err) {
      const reason = err instanceof JobRefusedError ? err.reason : String(err)
      await audit.write({
        job: String(claimed?.id ?? ''),
        kind: String(claimed?.kind ?? ''),
        controller: String(claimed?.controller ?? ''),
        decision: 'refused',
        reason,
        argv: claimed?.command?.argv,
      })
      // the answer goes back up the tree to whoever broadcast it; a forged job learns only that it was refused
      if (typeof claimed?.id === 'string') await reporter(claimed.id).add({ type: 'refused', reason })
      return
    }
    if (!job.targets.includes(info.peer)) {
      await reporter(job.id).add({ type: 'refused', reason: 'this agent is not among the job targets' })
      return
    }
    if (job.kind === 'cancel') {
      const target = job.cancels ?? ''
      await audit.write({
        job: job.id,
        kind: 'cancel',
        controller: job.controller,
        decision: 'accepted',
        reason: `cancel ${target}`,
      })
      running.get(target)?.abort(new Error('cancelled by the controller'))
      return
    }
    if (job.kind === 'inventory') {
      const reports = reporter(job.id)
      await reports.add({ type: 'hello', info })
      await reports.add({ type: 'result', status: 'ok', exitCode: 0, signal: null, durationMs: 0 })
      return
    }
    if (job.kind === 'collect') {
      await collect(job, reporter(job.id))
      return
    }
    if (job.kind === 'status') {
      const reports = reporter(job.id)
      const started = performance.now()
      await reports.add({ type: 'hello', info })
      try {
        const status = await hostStatus(OPS_VERSION)
        await reports.add({ type: 'status', status: status as unknown as Record<string, unknown> })
        await reports.add({ type: 'result', status: 'ok', exitCode: 0, signal: null, durationMs: ms(started) })
      } catch (err) {
        await reports.add({ ...failedResult(String(err)), durationMs: ms(started) })
      }
      return
    }
    if (job.kind === 'upgrade' || job.kind === 'uninstall') {
      const ctx: LifecycleContext = {
        job,
        info,
        dataDir: init.dataDir,
        store,
        audit,
        reports: reporter(job.id),
        pushes,
        signal: upstream,
        log,
        exit: code => void exitAfter(code),
      }
      await (job.kind === 'upgrade' ? handleUpgrade(ctx) : handleUninstall(ctx))
      return
    }
    const runnable =
      (job.kind === 'exec' && job.command !== undefined) || (job.kind === 'push' && job.push !== undefined)
    if (!runnable) {
      await audit.write({
        job: job.id,
        kind: job.kind,
        controller: job.controller,
        decision: 'refused',
        reason: 'unknown job kind',
      })
      await reporter(job.id).add({ type: 'refused', reason: `unknown or incomplete job of kind ${String(job.kind)}` })
      return
    }
    if (!(await store.claim(job))) {
      await audit.write({
        job: job.id,
        kind: job.kind,
        controller: job.controller,
        decision: 'duplicate',
        reason: 'job ID already executed here',
      })
      await reporter(job.id).add({ type: 'skipped', reason: 'job ID already executed here' })
      return
    }
    await audit.write({
      job: job.id,
      kind: job.kind,
      controller: job.controller,
      decision: 'accepted',
      argv: job.command?.argv,
      runAs: job.command?.runAs,
      path: job.push?.path,
    })
    const reports = reporter(job.id)
    // who we are rides in the first batch (the controller may know us only by peer ID, e.g. with id= selectors)
    void reports.add({ type: 'hello', info })
    void reports.add({ type: 'started' })
    const cancel = new AbortController()
    running.set(job.id, cancel)
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[], bytes: { stdout: 0, stderr: 0 } }
    const onOutput = (stream: OutputStream, data: Uint8Array): void => {
      for (let at = 0; at < data.byteLength; at += OUTPUT_CHUNK_BYTES) {
        const piece = data.subarray(at, at + OUTPUT_CHUNK_BYTES)
        void reports.add({ type: 'output', stream, data: Buffer.from(piece).toString('base64') })
      }
      // what `ops-agent job ID` can collect later (the controller may be gone: --async)
      const room = STORED_OUTPUT_BYTES - kept.bytes[stream]
      if (room > 0) {
        kept[stream].push(Buffer.from(data.subarray(0, room)))
        kept.bytes[stream] += Math.min(room, data.byteLength)
      }
    }
    let final: FinalReport
    try {
      // a push is pointless once the controller cannot reach us; a command runs on (its result is kept for `job ID`)
      final =
        job.kind === 'push'
          ? await pushes.receive(job, AbortSignal.any([cancel.signal, upstream]))
          : await runJob(job, onOutput, cancel.signal)
    } finally {
      running.delete(job.id)
    }
    await store.finish(job.id, final, {
      stdout: Buffer.concat(kept.stdout).toString('base64'),
      stderr: Buffer.concat(kept.stderr).toString('base64'),
    })
    await audit.write({
      job: job.id,
      kind: job.kind,
      controller: job.controller,
      decision: 'finished',
      status: final.status,
      exitCode: final.exitCode,
      signal: final.signal,
      durationMs: final.durationMs,
    })
    await reports.add(final)
  }

  /** Runs an exec job's command (or script) when a command slot is free. */
  async function runJob(
    job: Job,
    onOutput: (stream: OutputStream, data: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<FinalReport> {
    const command = job.command as CommandSpec
    await acquire()
    let scriptDir: string | undefined
    try {
      let argv = command.argv
      if (command.script !== undefined) {
        // a private directory per job (owned by the user it runs as), removed when the job ends
        scriptDir = await mkdtemp(join(tmpdir(), 'ops-agent-script-'))
        const file = join(scriptDir, 'script')
        await writeFile(file, Buffer.from(command.script, 'base64'), { mode: 0o700 })
        if (command.runAs !== undefined) {
          const { uid, gid } = lookupUser(command.runAs)
          await chown(scriptDir, uid, gid)
          await chown(file, uid, gid)
        }
        argv = [...command.argv, file, ...(command.scriptArgs ?? [])]
      }
      const result = await runCommand(
        {
          argv,
          cwd: command.cwd,
          env: command.env,
          stdin: command.stdin === undefined ? undefined : Buffer.from(command.stdin, 'base64'),
          runAs: command.runAs,
          timeoutMs: command.timeoutMs,
          killGraceMs: command.killGraceMs,
        },
        onOutput,
        signal,
      )
      return resultOf(result)
    } finally {
      release()
      if (scriptDir !== undefined) await rm(scriptDir, { recursive: true, force: true })
    }
  }

  /** `ops-agent job ID`: what this agent kept of a job (output and result), or that it still runs. */
  async function collect(job: Job, reports: Reporter): Promise<void> {
    const rec = job.collects === undefined ? undefined : await store.get(job.collects)
    await reports.add({ type: 'hello', info })
    if (rec === undefined) {
      await reports.add({ type: 'refused', reason: `no record of job ${String(job.collects)} here` })
      return
    }
    if (rec.state === 'running') {
      await reports.add({ type: 'running', startedAt: rec.startedAt })
      return
    }
    if (rec.state === 'lost') {
      await reports.add({ ...failedResult('the agent stopped while the job ran; it was not run again'), durationMs: 0 })
      return
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const bytes = Buffer.from(rec.output?.[stream] ?? '', 'base64')
      for (let at = 0; at < bytes.byteLength; at += OUTPUT_CHUNK_BYTES) {
        await reports.add({
          type: 'output',
          stream,
          data: bytes.subarray(at, at + OUTPUT_CHUNK_BYTES).toString('base64'),
        })
      }
    }
    await reports.add(rec.result as FinalReport)
  }

  // "through me you reach this many": my routes except the asker, plus me
  node.handle(
    INFO_CHANNEL,
    rpcHandler<unknown, InfoReply>({
      call: (_req, ctx) => ({ info, reachable: node.reachable().filter(p => !p.equals(ctx.remotePeer)).length + 1 }),
    }),
  )
  // the handler runs as long as the job: the broadcast's deadline is the command's timeout plus a grace
  node.handleBroadcast(JOB_CHANNEL, msg =>
    onJob(msg.payload, bytes => msg.reply(bytes), msg.signal).catch(err => {
      log.error({ err: String(err) }, 'job handling failed')
      throw err
    }),
  )
  /** Upgrade and uninstall end the process once their last report is on its way. */
  async function exitAfter(code: number): Promise<void> {
    await new Promise(r => setTimeout(r, 200))
    for (const c of running.values()) c.abort()
    await node.stop({ drainMs: 2_000 }).catch(() => {})
    ;(init.exit ?? ((c: number) => process.exit(c)))(code)
  }

  await node.start()
  void confirmUpgrade({ dataDir: init.dataDir, node, joins: init.join ?? [], version: OPS_VERSION, log })
  log.info({ peer: info.peer, tags: info.tags, trusted: [...trusted] }, 'agent started')
  return {
    node,
    info,
    running: () => running.size,
    async stop() {
      for (const c of running.values()) c.abort(new Error('the agent is stopping'))
      await node.stop()
    },
  }
}

function ms(since: number): number {
  return Math.round(performance.now() - since)
}

function failedResult(error: string): FinalReport {
  return { type: 'result', status: 'failed', exitCode: null, signal: null, durationMs: 0, error }
}

/** The final report of a command run. */
function resultOf(result: RunResult): FinalReport {
  const status: HostStatus =
    result.error !== undefined
      ? 'failed'
      : result.cancelled
        ? 'cancelled'
        : result.timedOut
          ? 'timeout'
          : result.exitCode === 0
            ? 'ok'
            : 'failed'
  return {
    type: 'result',
    status,
    exitCode: result.exitCode,
    signal: result.signal,
    durationMs: Math.round(result.durationMs),
    error: result.error,
    truncated: result.truncated.stdout + result.truncated.stderr > 0 ? result.truncated : undefined,
  }
}
