/**
 * The system's ssh and scp, non-interactive: BatchMode (no password prompts that would hang a fleet run), a connect
 * timeout, and the operator's extra `-o` options and identity.
 */
import { spawn } from 'node:child_process'
import type { SshTarget } from './hosts.js'

export interface SshOptions {
  /** `-o` options, e.g. `StrictHostKeyChecking=accept-new` */
  options?: string[]
  identity?: string
  connectTimeoutS?: number
}

export interface SshResult {
  code: number
  stdout: string
  stderr: string
}

/** ssh's exit status for a connection or authentication failure (anything else is the remote command's). */
export const SSH_CONNECT_FAILED = 255

function common(o: SshOptions): string[] {
  const args = ['-o', 'BatchMode=yes', '-o', `ConnectTimeout=${o.connectTimeoutS ?? 10}`]
  for (const opt of o.options ?? []) args.push('-o', opt)
  if (o.identity !== undefined) args.push('-i', o.identity)
  return args
}

function dest(t: SshTarget): string {
  return t.user === undefined ? t.host : `${t.user}@${t.host}`
}

function spawnCollect(cmd: string, args: string[], stdin: string, signal?: AbortSignal): Promise<SshResult> {
  return new Promise(resolve => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], signal })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', d => {
      stdout += d
    })
    p.stderr.on('data', d => {
      stderr += d
    })
    p.on('error', err => resolve({ code: SSH_CONNECT_FAILED, stdout, stderr: `${stderr}${err.message}` }))
    p.on('close', code => resolve({ code: code ?? SSH_CONNECT_FAILED, stdout, stderr }))
    p.stdin.on('error', () => {})
    p.stdin.end(stdin)
  })
}

/**
 * Runs `script` with `sh -s` on the target.
 *
 * @example
 * ```ts
 * const r = await sshScript(parseSshTarget('root@10.0.0.5'), 'uname -a\n', {})
 * ```
 */
export function sshScript(t: SshTarget, script: string, o: SshOptions, signal?: AbortSignal): Promise<SshResult> {
  const port = t.port === undefined ? [] : ['-p', String(t.port)]
  return spawnCollect('ssh', [...common(o), ...port, '--', dest(t), 'sh -s'], script, signal)
}

/** Copies `file` to `remotePath` on the target with scp. */
export function scpTo(
  t: SshTarget,
  file: string,
  remotePath: string,
  o: SshOptions,
  signal?: AbortSignal,
): Promise<SshResult> {
  const port = t.port === undefined ? [] : ['-P', String(t.port)]
  const host = t.host.includes(':') ? `[${t.host}]` : t.host
  const to = `${t.user === undefined ? '' : `${t.user}@`}${host}:${remotePath}`
  return spawnCollect('scp', [...common(o), ...port, '-q', '--', file, to], '', signal)
}
