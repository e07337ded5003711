/**
 * The ops-agent release as fleet hosts and operators get it: the artifact of `npm run build:agent` (pinned Node, one
 * bundled file, launcher script), unpacked. The benchmark times this CLI, since it is what ships; the workspace's
 * unbundled build spends ~0.5 s more loading hundreds of modules at start.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, join as pathJoin } from 'node:path'
import { buildArtifact } from '@pnet/artifact'
import type { CliCommand } from './measure.js'

/** Builds (or takes from the cache) the artifact, unpacks it under `dir`, and returns how to run its CLI. */
export async function releaseCli(dir: string): Promise<CliCommand> {
  const artifact = await buildArtifact()
  execFileSync('tar', ['xzf', artifact.path, '-C', dir])
  return {
    file: join(dir, artifact.name, 'bin', 'ops-agent'),
    args: [],
    label: `release ${artifact.manifest.version}, Node ${artifact.manifest.node}`,
  }
}

/**
 * RSS of `count` real `ops-agent agent` processes of `cli`, in a line (each joins the one before), idle `settleMs`
 * after the last joined: what one fleet host's agent costs.
 */
export async function idleAgentRss(
  cli: CliCommand,
  dir: string,
  trust: string,
  count = 3,
  settleMs = 5_000,
): Promise<number[]> {
  const agents: ChildProcess[] = []
  try {
    let join: string | undefined
    for (let i = 0; i < count; i++) {
      const args = [...cli.args, 'agent', '--data-dir', pathJoin(dir, `idle-${i}`), '--listen', '/ip4/127.0.0.1/tcp/0']
      args.push('--trust', trust, '--log-level', 'error', ...(join === undefined ? [] : ['--join', join]))
      const child = spawn(cli.file, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      agents.push(child)
      join = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /^listening (\S+)/m.exec(out)
          if (m !== null) resolve(m[1]!)
        })
        child.once('exit', code => reject(new Error(`agent ${i} exited ${code} before listening`)))
      })
      child.stdout!.resume()
    }
    await new Promise(r => setTimeout(r, settleMs))
    return agents.map(a => {
      const status = readFileSync(`/proc/${a.pid}/status`, 'utf8')
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024
    })
  } finally {
    for (const a of agents) a.kill('SIGKILL')
  }
}
