/**
 * Where the time went, from V8 CPU profiles (`node --cpu-prof`): self time by function and by package, over one or
 * more .cpuprofile files (e.g. every worker process of a fleet).
 *
 *   node tooling/bench/dist/ops/profile-summary.js DIR_OR_FILE … [--top 30]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface Profile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Package (or area) a script URL belongs to: `@pnet/router`, `@chainsafe/libp2p-noise`, `node:internal`, … */
export function areaOf(url: string): string {
  if (url === '') return '(native / idle / gc)'
  if (url.startsWith('node:')) return 'node: built-ins'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(
    url.slice(url.lastIndexOf('node_modules/.pnpm/') >= 0 ? url.lastIndexOf('node_modules/') : 0),
  )
  if (nm !== null) return nm[1]!
  const ws = /\/(packages|apps|tooling)\/([^/]+)\//.exec(url)
  if (ws !== null) return `${ws[1]}/${ws[2]}`
  return url
}

/** Self time (µs) per function and per area across `files`. */
export function summarize(files: string[]): {
  totalUs: number
  byFn: Map<string, number>
  byArea: Map<string, number>
} {
  const byFn = new Map<string, number>()
  const byArea = new Map<string, number>()
  let totalUs = 0
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
    const frames = new Map(p.nodes.map(n => [n.id, n.callFrame]))
    for (let i = 0; i < p.samples.length; i++) {
      const f = frames.get(p.samples[i]!)
      const dt = p.timeDeltas[i] ?? 0
      if (f === undefined) continue
      totalUs += dt
      const name = f.functionName === '' ? '(anonymous)' : f.functionName
      const where =
        f.url === '' ? '' : ` ${f.url.replace(/^.*\/(node_modules|packages|apps)\//, '$1/')}:${f.lineNumber + 1}`
      byFn.set(`${name}${where}`, (byFn.get(`${name}${where}`) ?? 0) + dt)
      byArea.set(areaOf(f.url), (byArea.get(areaOf(f.url)) ?? 0) + dt)
    }
  }
  return { totalUs, byFn, byArea }
}

function profilesIn(path: string): string[] {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter(f => f.endsWith('.cpuprofile'))
      .map(f => join(path, f))
  }
  return [path]
}

/** Text report: the top functions and every area, by self time. */
export function report(files: string[], top = 30): string {
  const { totalUs, byFn, byArea } = summarize(files)
  const pct = (us: number): string => `${((100 * us) / totalUs).toFixed(1)}%`
  const lines = [`${files.length} profiles, ${(totalUs / 1e6).toFixed(2)} s sampled`, '', 'self time by area:']
  for (const [area, us] of [...byArea].sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${area}`)
  }
  lines.push('', `top ${top} functions by self time:`)
  for (const [fn, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${fn}`)
  }
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const t = args.indexOf('--top')
  const top = t >= 0 ? Number(args[t + 1]) : 30
  const paths = args.filter((a, i) => a !== '--top' && (t < 0 || i !== t + 1))
  console.log(report(paths.flatMap(profilesIn), top))
}
