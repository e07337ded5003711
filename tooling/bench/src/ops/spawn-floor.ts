/**
 * What starting processes costs on this machine, without any network: the floor under "per-host latency" when every
 * agent of a benchmark fleet shares the machine's cores.
 *
 *   node tooling/bench/dist/ops/spawn-floor.js [--count 500] [--procs 1,2,4,20] [--parent-mb 0,100,300]
 *
 * Part 1: `count` commands (`true`) started at once from `procs` small Node processes (started first, not timed),
 * until the last has exited. Part 2: the synchronous cost of one spawn() from a Node process holding `parent-mb` MiB
 * (fork copies the parent's page tables; libuv waits for the exec).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '500' },
    procs: { type: 'string', default: '1,2,4,20' },
    'parent-mb': { type: 'string', default: '0,100,300' },
    child: { type: 'string' },
  },
})

/** Starts `n` `true` processes at once; resolves with ms until the last has exited. */
function burst(n: number): Promise<number> {
  const t0 = performance.now()
  let done = 0
  return new Promise(resolve => {
    for (let i = 0; i < n; i++) {
      spawn('true', [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }).on('close', () => {
        if (++done === n) resolve(performance.now() - t0)
      })
    }
  })
}

/** Mean synchronous ms of spawn() from this process after allocating `mb` MiB (touched). */
async function syncCost(mb: number, n = 50): Promise<{ rssMb: number; ms: number }> {
  const keep: Buffer[] = []
  for (let i = 0; i < mb; i++) keep.push(Buffer.alloc(2 ** 20, 1))
  let sync = 0
  const exits: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) {
    const a = performance.now()
    const c = spawn('true', [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    sync += performance.now() - a
    exits.push(new Promise(r => c.on('close', r)))
  }
  await Promise.all(exits)
  return { rssMb: process.memoryUsage().rss / 2 ** 20, ms: sync / n }
}

if (values.child !== undefined) {
  // a worker: wait for "go", run its share, report
  const [mode, arg] = values.child.split(':') as [string, string]
  process.on('message', async () => {
    const result = mode === 'burst' ? await burst(Number(arg)) : await syncCost(Number(arg))
    process.send!(result, () => process.exit(0))
  })
  process.send!('ready')
} else {
  const count = Number(values.count)
  const worker = (spec: string): Promise<ChildProcess> =>
    new Promise(resolve => {
      const c = fork(process.argv[1]!, ['--child', spec])
      c.once('message', () => resolve(c))
    })
  const result = <T>(c: ChildProcess): Promise<T> => new Promise(r => c.once('message', m => r(m as T)))
  const load = (): string => loadavg()[0]!.toFixed(2)
  console.log(`${cpus().length} × ${cpus()[0]?.model}, node ${process.version}, load ${load()}`)
  console.log(`\n| commands | started from | last exited ms | per command µs of wall |\n|---:|---|---:|---:|`)
  for (const procs of values.procs.split(',').map(Number)) {
    const share = Math.ceil(count / procs)
    const workers = await Promise.all(Array.from({ length: procs }, () => worker(`burst:${share}`)))
    const t0 = performance.now()
    const outs = workers.map(w => result<number>(w))
    for (const w of workers) w.send('go')
    await Promise.all(outs)
    const ms = performance.now() - t0
    console.log(
      `| ${share * procs} | ${procs} small Node processes | ${ms.toFixed(0)} | ${((ms * 1000) / (share * procs)).toFixed(0)} |`,
    )
  }
  console.log(`\n| parent RSS MB | spawn() blocks the event loop, ms |\n|---:|---:|`)
  for (const mb of values['parent-mb'].split(',').map(Number)) {
    const w = await worker(`sync:${mb}`)
    const out = result<{ rssMb: number; ms: number }>(w)
    w.send('go')
    const r = await out
    console.log(`| ${r.rssMb.toFixed(0)} | ${r.ms.toFixed(2)} |`)
  }
  console.log(`\nload at end ${load()}`)
}
