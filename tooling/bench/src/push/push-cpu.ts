/**
 * CPU per MiB of each receiving agent during `ops-agent push`, by role in the tree (root relay, relays, leaves):
 * CPU time is what proportions survive on a shared machine, where wall clock does not. A fleet of one agent per
 * process; each agent's CPU from /proc before and after each push. An empty push is measured first, so the fixed
 * cost of a job (signatures, reports, temp file, rename) can be told apart from the per-byte cost; and what each agent
 * burns idle (keepalives, routing) per second, measured for 10 s first, is taken off every figure for the push's
 * wall time (on a loaded machine a push takes long, and idle work would otherwise read as per-MiB cost).
 *
 *   node tooling/bench/dist/push/push-cpu.js [--mib 32] [--hosts 20] [--branching 4] [--runs 2]
 *        [--agents-cpu-prof DIR]
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startFleet } from '@pnet/fleet'
import { opsAgentPush, prepareDestinations, sha256File, verifyAndClean } from './measure.js'

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '32' },
    hosts: { type: 'string', default: '20' },
    branching: { type: 'string', default: '4' },
    runs: { type: 'string', default: '2' },
    'agents-cpu-prof': { type: 'string' },
  },
})
const mib = Number(values.mib)
const hosts = Number(values.hosts)
const runs = Number(values.runs)
const prof = values['agents-cpu-prof']
const log = (m: string): void => void process.stderr.write(`[push-cpu] ${m}\n`)
const load = (): string =>
  loadavg()
    .map(l => l.toFixed(2))
    .join(' ')

const work = mkdtempSync(join(tmpdir(), 'pnet-push-cpu-'))
const fleet = await startFleet({
  count: hosts,
  topology: 'tree',
  branching: Number(values.branching),
  agentsPerProcess: 1,
  dir: join(work, 'fleet'),
  logLevel: 'error',
  nodeArgs: prof === undefined ? undefined : ['--cpu-prof', '--cpu-prof-dir', prof],
})
try {
  const children = new Map<number, number>()
  for (const a of fleet.agents) if (a.parent >= 0) children.set(a.parent, (children.get(a.parent) ?? 0) + 1)
  const role = (i: number): 'root' | 'relay' | 'leaf' =>
    fleet.agents[i]!.depth === 0 ? 'root' : (children.get(i) ?? 0) > 0 ? 'relay' : 'leaf'
  const hostsList = fleet.agents.map(a => a.host)
  const dest = join(work, 'dest')
  const cpuByPid = (): Map<number, number> => new Map(fleet.stats().map(s => [s.pid, s.cpuMs]))
  const push = async (bytes: number): Promise<{ perAgent: number[]; wallMs: number }> => {
    const local = join(work, `f-${bytes}`)
    writeFileSync(local, randomBytes(0))
    if (bytes > 0) {
      rmSync(local)
      for (let left = bytes; left > 0; left -= 1 << 20) {
        writeFileSync(local, randomBytes(Math.min(1 << 20, left)), { flag: 'a' })
      }
    }
    const sha = await sha256File(local)
    prepareDestinations(dest, hostsList)
    const before = cpuByPid()
    const t = Date.now()
    const res = await opsAgentPush({
      keyFile: fleet.controller!.keyFile,
      via: fleet.root,
      local,
      remote: join(dest, '{host}', 'pushed.bin'),
      workDir: work,
    })
    const wallMs = Date.now() - t
    const after = cpuByPid()
    const copies = await verifyAndClean(dest, hostsList, 'pushed.bin', sha, t, res.reported)
    const bad = copies.filter(c => !c.verified)
    if (res.exitCode !== 0 || bad.length > 0) {
      throw new Error(
        `push failed: exit ${res.exitCode} ${res.failures.join('; ')} ${bad.map(b => b.problem).join('; ')}`,
      )
    }
    rmSync(local)
    return { perAgent: fleet.agents.map(a => (after.get(a.pid) ?? 0) - (before.get(a.pid) ?? 0)), wallMs }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN
  log(`fleet up; load ${load()}`)
  // what an agent burns doing nothing (keepalives, routing) per second of wall time, subtracted from each push
  const idle0 = cpuByPid()
  await new Promise(r => setTimeout(r, 10_000))
  const idle1 = cpuByPid()
  const idlePerS = fleet.agents.map(a => ((idle1.get(a.pid) ?? 0) - (idle0.get(a.pid) ?? 0)) / 10)
  const empty = await push(0)
  const lines: string[] = []
  for (let r = 0; r < runs; r++) {
    log(`run ${r + 1}: ${mib} MiB to ${hosts} agents (load ${load()})`)
    const full = await push(mib * 2 ** 20)
    for (const kind of ['root', 'relay', 'leaf'] as const) {
      const idx = fleet.agents.map((_, i) => i).filter(i => role(i) === kind)
      const bg = (i: number, wallMs: number): number => (idlePerS[i]! * wallMs) / 1000
      const total = median(idx.map(i => full.perAgent[i]! - bg(i, full.wallMs)))
      const fixed = median(idx.map(i => empty.perAgent[i]! - bg(i, empty.wallMs)))
      const idleRate = median(idx.map(i => idlePerS[i]!))
      lines.push(
        `| ${r + 1} | ${kind} (${idx.length}) | ${(total / mib).toFixed(1)} | ${((total - fixed) / mib).toFixed(1)} | ${fixed.toFixed(0)} | ${idleRate.toFixed(1)} | ${(full.wallMs / 1000).toFixed(2)} |`,
      )
    }
  }
  console.log(`${mib} MiB to ${hosts} agents (tree, branching ${values.branching}), load at end ${load()}`)
  console.log(
    '| run | role (agents) | CPU ms per MiB (median agent) | same, minus an empty push | empty push CPU ms | idle CPU ms/s | push wall s |',
  )
  console.log('|---:|---|---:|---:|---:|---:|---:|')
  for (const l of lines) console.log(l)
} finally {
  await fleet.stop({ graceful: prof !== undefined })
  mkdirSync(work, { recursive: true })
  rmSync(work, { recursive: true, force: true })
}
