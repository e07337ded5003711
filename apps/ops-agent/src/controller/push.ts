/**
 * `ops-agent push`: one signed push job (destination, size, sha256, mode, owner), then the file's bytes down the
 * routing tree to the hosts that started the job, as one push tree stream per next hop (agent/push-tree.ts): the
 * controller sends the file once per child of its own (one, when it joined through one agent); every relay forwards
 * it once per child below it as it arrives. The file is read piece by piece, never whole. Hosts below an agent too
 * old for push tree streams get the file afterwards as chunk broadcasts, as before.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { type FileHandle, open, stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Node } from '@pnet/node'
import { CHUNK_CHANNEL, encodeChunk } from '../agent/push.js'
import { FanOut, PushTreeCode } from '../agent/push-tree.js'
import { PUSH_CHUNK_BYTES, PUSH_WINDOW } from '../limits.js'
import type { PushSpec, UpgradeSpec } from '../protocol/job.js'
import { type ExecOptions, type ExecRun, execute, type RunningWave } from './exec.js'

/** Default time a host has to receive the whole file. */
export const DEFAULT_PUSH_TIMEOUT_MS = 5 * 60_000
/** How long the controller waits for targets to open their temporary file before it sends the first chunk. */
const START_TIMEOUT_MS = 15_000

export interface PushOptions extends Omit<ExecOptions, 'command' | 'job' | 'during' | 'detach'> {
  local: string
  /** absolute path on the hosts */
  remote: string
  /** octal text; default 0644 */
  mode?: string
  owner?: string
  timeoutMs?: number
  chunkBytes?: number
  /** send the file as an `upgrade` job (ops-agent upgrade) instead of a plain push: same transfer, other job kind */
  upgrade?: UpgradeSpec
}

export interface PushRun extends ExecRun {
  size: number
  sha256: string
  /** chunk payload bytes the controller handed to the overlay (each chunk once, whatever the host count) */
  bytesSent: number
}

/** Hex sha256 of a file, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Pushes `local` to `remote` on every target; per-host results in the exec vocabulary.
 *
 * @example
 * ```ts
 * const run = await pushFile({ key, fleet, selectors: parseSelectors(['role=web']), local: 'app.tar',
 *   remote: '/srv/app.tar', mode: '0640' })
 * ```
 */
export async function pushFile(opts: PushOptions): Promise<PushRun> {
  if (!isAbsolute(opts.remote)) throw new TypeError(`the remote path must be absolute, got ${opts.remote}`)
  const info = await stat(opts.local)
  if (!info.isFile()) throw new TypeError(`${opts.local} is not a regular file`)
  const mode = opts.mode ?? '0644'
  if (!/^0?[0-7]{3,4}$/.test(mode)) throw new TypeError(`--mode ${mode} is not an octal mode like 0644`)
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS
  const push: PushSpec = {
    path: opts.remote,
    size: info.size,
    sha256: await fileSha256(opts.local),
    mode,
    owner: opts.owner,
    chunkBytes: opts.chunkBytes ?? PUSH_CHUNK_BYTES,
    timeoutMs,
  }
  let bytesSent = 0
  const run = await execute({
    ...opts,
    command: { argv: [], timeoutMs, killGraceMs: 0 },
    job: opts.upgrade === undefined ? { kind: 'push', push } : { kind: 'upgrade', push, upgrade: opts.upgrade },
    during: async wave => {
      const alive = new Set(await wave.started(START_TIMEOUT_MS))
      for (const peer of wave.active()) {
        if (!alive.has(peer)) wave.fail(peer, 'unreachable', 'did not start the push in time')
      }
      if (alive.size === 0 || push.size === 0) return
      const file = await open(opts.local, 'r')
      try {
        const older = await sendTree(opts.fleet.node, file, opts.local, wave.jobId, push, [...alive], (peer, why) => {
          alive.delete(peer)
          wave.fail(peer, 'failed', why)
        })
        if (older.length > 0) {
          alive.clear()
          for (const p of older) alive.add(p)
          bytesSent += await sendChunks(opts.fleet.node, file, opts.local, wave, push, alive)
        }
        bytesSent += push.size
      } finally {
        await file.close()
      }
    },
  })
  return { ...run, size: push.size, sha256: push.sha256, bytesSent }
}

/**
 * The file as one push tree stream per next hop (agent/push-tree.ts), read in pieces of chunkBytes. `failed` hears
 * of every target that will not get it; resolves with the targets whose way down has an agent too old for push tree
 * streams (they still get the file as chunk broadcasts).
 */
async function sendTree(
  node: Node,
  file: FileHandle,
  local: string,
  jobId: string,
  push: PushSpec,
  targets: string[],
  failed: (peer: string, why: string) => void,
): Promise<string[]> {
  const older: string[] = []
  const signal = AbortSignal.timeout(push.timeoutMs)
  const fan = new FanOut({
    node,
    jobId,
    size: push.size,
    timeoutMs: push.timeoutMs,
    hop: 1,
    targets,
    signal,
    onFailed: (i, code, reason) => {
      const peer = targets[i] as string
      if (code === PushTreeCode.UNSUPPORTED) older.push(peer)
      else failed(peer, `the file did not arrive: ${reason}`)
    },
  })
  try {
    for (let offset = 0; offset < push.size; offset += push.chunkBytes) {
      const data = Buffer.allocUnsafe(Math.min(push.chunkBytes, push.size - offset))
      const { bytesRead } = await file.read(data, 0, data.byteLength, offset)
      if (bytesRead !== data.byteLength) throw new Error(`${local} changed while it was being pushed`)
      await fan.write(data)
    }
  } catch (err) {
    fan.abort(err as Error)
    await fan.end()
    throw err
  }
  await fan.end()
  return older
}

/**
 * The file as chunk broadcasts (PUSH_WINDOW in flight), for agents that predate push tree streams; each chunk's
 * report fails the hosts that did not get it. Resolves with the bytes sent.
 */
async function sendChunks(
  node: Node,
  file: FileHandle,
  local: string,
  wave: RunningWave,
  push: PushSpec,
  alive: Set<string>,
): Promise<number> {
  let bytesSent = 0
  const inFlight = new Set<Promise<void>>()
  for (let offset = 0; offset < push.size && alive.size > 0; offset += push.chunkBytes) {
    const data = new Uint8Array(Math.min(push.chunkBytes, push.size - offset))
    const { bytesRead } = await file.read(data, 0, data.byteLength, offset)
    if (bytesRead !== data.byteLength) throw new Error(`${local} changed while it was being pushed`)
    const at = offset
    const sent = node
      .broadcast(CHUNK_CHANNEL, encodeChunk(wave.jobId, at, data), {
        targets: [...alive].map(p => peerIdFromString(p)),
        timeoutMs: push.timeoutMs,
      })
      .then(report => {
        for (const f of report.failed) {
          const peer = f.peer.toString()
          if (!alive.delete(peer)) continue
          wave.fail(peer, 'failed', `chunk at byte ${at} did not arrive (${f.code}: ${f.reason})`)
        }
      })
    bytesSent += data.byteLength
    const tracked: Promise<void> = sent.finally(() => inFlight.delete(tracked))
    inFlight.add(tracked)
    if (inFlight.size >= PUSH_WINDOW) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  return bytesSent
}
