/**
 * What exec, script, push, status and job share on the command line: the target and rolling-run flags, joining the
 * fleet, live output or JSON lines, the summary, interrupts (cli/signals.ts), the exit code, and the job history.
 */
import { readFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import type { SystemStatus } from '../agent/status.js'
import { type ExecEvents, type ExecRun, type ExecSummary, execute, type HostResult } from '../controller/exec.js'
import { type Fleet, joinFleet } from '../controller/fleet.js'
import { type History, type NewJob, openHistory } from '../controller/history.js'
import { groupedOutput, hostJson, LivePrinter, type Sink, summaryLine } from '../controller/output.js'
import { DEFAULT_PUSH_TIMEOUT_MS, pushFile } from '../controller/push.js'
import { parseSelectors, SelectorError, type Selectors } from '../controller/selector.js'
import { noMatchMessage } from '../controller/selector-hint.js'
import { statusTable } from '../controller/status-table.js'
import { controllerSettings, loadControllerKey, type Setting, VIA_ENV } from './defaults.js'
import { UsageError } from './errors.js'
import { collectCommand } from './follow-up.js'
import { INTERRUPT_EXIT_CODES, type Interrupt, onInterrupt } from './signals.js'

export { UsageError }

export interface RunFlags {
  keyFile: string
  /** the key as given and where from, for the message when it is not there */
  keySetting: Setting
  via: string
  selectors: Selectors
  selectorText: string[]
  timeoutMs?: number
  concurrency?: number
  batch?: { count?: number; percent?: number }
  maxFailures?: number
  json: boolean
  async: boolean
  dbPath: string
}

/**
 * Parses a duration: `250ms`, `30s`, `5m`, `1h`, or plain milliseconds.
 *
 * @example
 * ```ts
 * parseDuration('--timeout', '1m30s')   // 90000
 * ```
 */
export function parseDuration(flag: string, text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)?/y
  let total = 0
  let at = 0
  while (at < text.length) {
    re.lastIndex = at
    const m = re.exec(text)
    if (m === null) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 500ms, 30s, 5m, 1h)`)
    const n = Number(m[1])
    total += n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1)
    at = re.lastIndex
  }
  if (text === '' || total <= 0) throw new UsageError(`${flag} "${text}" must be a positive duration`)
  return Math.round(total)
}

/** A positive integer flag, or undefined when absent. */
export function positiveInt(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer, got "${String(v)}"`)
  return n
}

/** The join address in effect (flag, env, config file), or a usage error that says where one can be given. */
export function needVia(settings: { via: Setting<string | undefined> }, command: string): string {
  if (settings.via.value === undefined) {
    throw new UsageError(`ops-agent ${command} needs --via ADDR (or $${VIA_ENV}, or "via" in the config file)`)
  }
  return settings.via.value
}

/** The shared flags, checked; `address` checks and normalises --via. Key, via and db default as `config` shows. */
export function runFlags(
  values: Record<string, unknown>,
  command: string,
  address: (flag: string, text: string) => string,
): RunFlags {
  const settings = controllerSettings(values)
  const keyFile = resolve(settings.key.value)
  const via = address('via', needVia(settings, command))
  const selectorText = (values.target as string[] | undefined) ?? []
  let selectors: Selectors
  try {
    selectors = parseSelectors(selectorText)
  } catch (err) {
    if (err instanceof SelectorError) throw new UsageError(err.message)
    throw err
  }
  let batch: RunFlags['batch']
  if (typeof values.batch === 'string') {
    const m = /^(\d+)(%?)$/.exec(values.batch)
    const n = Number(m?.[1])
    if (m === null || n <= 0 || (m[2] === '%' && n > 100)) {
      throw new UsageError(`--batch must be N or P% (1-100), got "${values.batch}"`)
    }
    batch = m[2] === '%' ? { percent: n } : { count: n }
  }
  return {
    keyFile,
    keySetting: settings.key,
    via,
    selectors,
    selectorText,
    timeoutMs: values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout as string),
    concurrency: positiveInt('concurrency', values.concurrency),
    batch,
    maxFailures: positiveInt('max-failures', values['max-failures']),
    json: values.json === true,
    async: values.async === true,
    dbPath: resolve(settings.db.value),
  }
}

export interface RunContext {
  key: PrivateKey
  fleet: Fleet
  events: ExecEvents
  signal: AbortSignal
}

/**
 * Joins the fleet, runs `job`, prints as it goes (or JSON lines), records the job and its results in the history,
 * and returns the exit code: 0 only when every targeted host ended `ok`.
 */
export async function runAndReport(
  flags: RunFlags,
  sink: Sink,
  record: Omit<NewJob, 'id' | 'selectors' | 'via' | 'async' | 'targets'>,
  job: (ctx: RunContext) => Promise<ExecRun>,
  render: 'output' | 'status' = 'output',
): Promise<number> {
  const key = await loadControllerKey(flags.keySetting)
  const history = await openHistory(flags.dbPath)
  const fleet = await joinFleet({ key, via: flags.via })
  const printer = new LivePrinter(sink)
  const cancel = new AbortController()
  let interrupted: Interrupt | undefined
  const stopWatching = onInterrupt(why => {
    interrupted = why
    // a closed stdout is the reader saying "enough" (`| head -1`): cancel without a word, like pdsh
    if (why !== 'SIGPIPE') sink.stderr(`\n${why}: cancelling on every host…\n`)
    cancel.abort()
  })
  const started = performance.now()
  let recorded: string | undefined
  const remember = (jobId: string, peers: string[]): void => {
    if (recorded !== undefined) return
    recorded = jobId
    history.recordJob({
      ...record,
      id: jobId,
      selectors: flags.selectorText,
      via: flags.via,
      async: flags.async,
      targets: peers.map(peer => ({ peer, host: peer })),
    })
  }
  try {
    const live = !flags.json && render === 'output'
    const run = await job({
      key,
      fleet,
      signal: cancel.signal,
      events: {
        dispatched: remember,
        targets: live ? n => printer.targets(n) : undefined,
        output: live ? (host, stream, text) => printer.output(host, stream, text) : undefined,
        done: r => {
          if (recorded !== undefined && r.status !== 'running') history.recordResult(recorded, r as never)
          if (flags.json) sink.stdout(`${JSON.stringify(jsonOf(r))}\n`)
          else if (live) printer.done(r)
        },
      },
    })
    if (recorded !== undefined && !flags.async) history.finishJob(recorded, { summary: run.summary })
    printEnd(flags, sink, run, render, performance.now() - started, live ? printer : undefined)
    // a run that targets nothing fails (exit 1): say why, and what was probably meant
    if (run.noMatch !== undefined) {
      sink.stderr(`${noMatchMessage(flags.selectorText, run.noMatch.known, run.noMatch.reachable)}\n`)
    }
    if (interrupted !== undefined) return INTERRUPT_EXIT_CODES[interrupted]
    if (flags.async) return run.summary.targeted > 0 && run.accepted.length === run.summary.targeted ? 0 : 1
    return exitCode(run.summary)
  } finally {
    stopWatching()
    history.close()
    await fleet.close()
  }
}

function jsonOf(r: HostResult): Record<string, unknown> {
  return r.facts === undefined ? hostJson(r) : { ...hostJson(r), facts: r.facts }
}

export function exitCode(s: ExecSummary): number {
  return s.targeted > 0 && s.ok === s.targeted ? 0 : 1
}

function printEnd(
  flags: RunFlags,
  sink: Sink,
  run: ExecRun,
  render: 'output' | 'status',
  elapsed: number,
  printer: LivePrinter | undefined,
): void {
  if (flags.json) {
    sink.stdout(
      `${JSON.stringify({ summary: run.summary, job: run.jobId, ...(flags.async ? { accepted: run.accepted } : {}) })}\n`,
    )
    return
  }
  printer?.finish()
  if (flags.async) {
    sink.stdout(`job ${run.jobId} started on ${run.accepted.length} of ${run.summary.targeted} hosts\n`)
    for (const r of run.results) sink.stdout(`${r.host}: ${r.status}${r.reason ? ` (${r.reason})` : ''}\n`)
    sink.stdout(`collect the results with: ${collectCommand(run.jobId, flags)}\n`)
    return
  }
  if (render === 'status') {
    const rows = run.results.map(r => ({
      host: r.host,
      peer: r.peer,
      status: (r.facts as SystemStatus | undefined) ?? null,
      reason: r.facts === undefined ? (r.reason ?? r.status) : undefined,
    }))
    sink.stdout(statusTable(rows, { countLine: false }))
  } else {
    const grouped = groupedOutput(run.results)
    if (grouped !== '') sink.stdout(grouped)
  }
  sink.stdout(summaryLine(run.summary, run.results, elapsed))
  if (run.unknown.length > 0) {
    sink.stderr(
      `warning: ${run.unknown.length} routed agents did not answer the inventory; they may match: ${run.unknown.join(', ')}\n`,
    )
  }
  if (run.notRun.length > 0) {
    const named = run.results.filter(r => run.notRun.includes(r.peer)).map(r => r.host)
    sink.stderr(`stopped after too many failures; never ran on ${named.length} hosts: ${named.join(', ')}\n`)
  }
}

/** Commands that run something on hosts: exec, script, push, status. */
export const runCommands = {
  /** `ops-agent script FILE [--interpreter sh] [-- ARGS …]` */
  async script(values: Record<string, unknown>, positionals: string[], flags: RunFlags, sink: Sink): Promise<number> {
    const [file, ...args] = positionals
    if (file === undefined) throw new UsageError('ops-agent script needs a script FILE')
    const interpreter = (values.interpreter as string | undefined) ?? 'sh'
    if (!/^(bash|sh|python3|node|\/.+)$/.test(interpreter)) {
      throw new UsageError(`--interpreter must be bash, sh, python3, node or an absolute path, got "${interpreter}"`)
    }
    let content: Buffer
    try {
      content = await readFile(file)
    } catch (err) {
      throw new UsageError(`cannot read script ${file}: ${(err as Error).message}`)
    }
    return runAndReport(flags, sink, { kind: 'script', script: basename(file), argv: [interpreter, ...args] }, ctx =>
      execute({
        ...common(flags, ctx),
        detach: flags.async,
        command: {
          argv: [interpreter],
          script: content.toString('base64'),
          scriptArgs: args,
          timeoutMs: flags.timeoutMs,
        },
      }),
    )
  },

  /** `ops-agent push LOCAL REMOTE [--mode 0644] [--owner USER]` */
  async push(values: Record<string, unknown>, positionals: string[], flags: RunFlags, sink: Sink): Promise<number> {
    const [local, remote, extra] = positionals
    if (local === undefined || remote === undefined || extra !== undefined) {
      throw new UsageError('ops-agent push needs exactly LOCAL_PATH REMOTE_PATH')
    }
    if (!remote.startsWith('/')) throw new UsageError(`REMOTE_PATH must be absolute, got "${remote}"`)
    if (flags.async) throw new UsageError('ops-agent push streams the file from here: --async is not supported')
    const mode = (values.mode as string | undefined) ?? '0644'
    if (!/^0?[0-7]{3,4}$/.test(mode)) throw new UsageError(`--mode must be octal like 0644, got "${mode}"`)
    return runAndReport(flags, sink, { kind: 'push', push: { local: resolve(local), remote } }, ctx =>
      pushFile({
        ...common(flags, ctx),
        local,
        remote,
        mode,
        owner: values.owner as string | undefined,
        timeoutMs: flags.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS,
      }),
    )
  },

  /** `ops-agent status` */
  async status(_values: Record<string, unknown>, _positionals: string[], flags: RunFlags, sink: Sink): Promise<number> {
    return runAndReport(
      flags,
      sink,
      { kind: 'exec', argv: ['(status)'] },
      ctx =>
        execute({
          ...common(flags, ctx),
          job: { kind: 'status' },
          command: { argv: [], timeoutMs: flags.timeoutMs ?? 15_000 },
        }),
      'status',
    )
  },
}

/** The execute() options every run command shares, from the parsed flags and the joined fleet. */
export function common(flags: RunFlags, ctx: RunContext) {
  return {
    key: ctx.key,
    fleet: ctx.fleet,
    selectors: flags.selectors,
    concurrency: flags.concurrency,
    batch: flags.batch,
    maxFailures: flags.maxFailures,
    signal: ctx.signal,
    events: ctx.events,
  }
}

export type { History }
