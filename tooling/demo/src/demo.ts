/**
 * `npm run demo`: the ops fan-out. A local fleet of 10 agents in a tree (each knows only its parent), a controller
 * that knows only the root runs a command on every agent through the overlay, the output and the summary are shown,
 * and the fleet is torn down.
 *
 * The demo knows what it started: it runs the command only once the root routes to every agent (a fleet started a
 * moment ago takes a few route updates to converge), within CONVERGE_MS; past that it says which agents did not
 * join, and the run still counts them, as unreachable, with the reason on the summary line.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, peerIdFromKey, tcp } from '@pnet/network'
import {
  type Agent,
  execute,
  groupedOutput,
  joinFleet,
  LivePrinter,
  parseSelectors,
  startAgent,
  summaryLine,
  waitForRoutes,
} from 'ops-agent'

const AGENTS = 10
const BRANCHING = 3
/** How long the fleet may take to converge (every agent routed from the root, then from the controller). */
const CONVERGE_MS = 10_000

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'pnet-demo-'))
  const controllerKey = await generateKey()
  const controller = peerIdFromKey(controllerKey).toString()
  const agents: Agent[] = []
  try {
    process.stdout.write(`starting ${AGENTS} agents in a tree (branching ${BRANCHING}) on loopback…\n`)
    for (let i = 0; i < AGENTS; i++) {
      const parent = i === 0 ? undefined : agents[Math.floor((i - 1) / BRANCHING)]
      agents.push(
        await startAgent({
          dataDir: join(dir, `agent-${i}`),
          listen: ['tcp://127.0.0.1:0'],
          join: parent === undefined ? [] : [parent.node.addrs[0]!.toString()],
          tags: { hostname: `agent-${i}`, role: i % 2 === 0 ? 'web' : 'db' },
          trust: [controller],
          transports: [tcp()],
        }),
      )
    }
    const root = agents[0]!.node.addrs[0]!.toString()
    const names = new Map(agents.map((a, i) => [a.node.id.toString(), `agent-${i}`]))
    const converging = performance.now()
    const unrouted = await waitForRoutes(
      agents[0]!.node,
      agents.slice(1).map(a => a.node.id),
      { timeoutMs: CONVERGE_MS },
    )
    if (unrouted.length === 0) {
      const secs = ((performance.now() - converging) / 1000).toFixed(2)
      process.stdout.write(`all ${AGENTS} agents routed from the root after ${secs} s\n`)
    }
    process.stdout.write(`controller ${controller}\n  joins through the root only: ${root}\n\n`)

    const started = performance.now()
    const fleet = await joinFleet({
      key: controllerKey,
      via: root,
      transports: [tcp()],
      expect: agents.map(a => a.node.id),
      joinTimeoutMs: Math.max(1_000, Math.round(CONVERGE_MS - (started - converging))),
    })
    const missing = [...new Set([...unrouted, ...fleet.missing()].map(String))]
    if (missing.length > 0) {
      const who = missing.map(p => names.get(p) ?? p).join(', ')
      process.stdout.write(
        `${AGENTS - missing.length} of ${AGENTS} agents joined after ${(CONVERGE_MS / 1000).toFixed(0)} s: ` +
          `${who} did not (not routed from the root); running on the others\n\n`,
      )
    }
    const depth = Math.max(...fleet.peers().map(p => fleet.hops(p) ?? 0))
    process.stdout.write(
      `$ ops-agent exec --target '*' -- sh -c 'echo "$(uname -s) up $(cut -d. -f1 /proc/uptime)s"'\n`,
    )
    process.stdout.write(`  (${fleet.peers().length} agents reachable, up to ${depth} hops away)\n`)
    const printer = new LivePrinter({
      stdout: t => process.stdout.write(t),
      stderr: t => process.stderr.write(t),
      isTTY: false,
    })
    const run = await execute({
      key: controllerKey,
      fleet,
      selectors: parseSelectors(['*']),
      expect: names,
      command: { argv: ['sh', '-c', 'echo "$(uname -s) up $(cut -d. -f1 /proc/uptime)s"'] },
      events: {
        output: (host, stream, text) => printer.output(host, stream, text),
        done: r => printer.done(r),
      },
    })
    printer.finish()
    process.stdout.write(
      `\n${groupedOutput(run.results)}${summaryLine(run.summary, run.results, performance.now() - started)}`,
    )
    await fleet.close()
    return run.summary.ok === AGENTS ? 0 : 1
  } finally {
    await Promise.all(agents.map(a => a.stop()))
    await rm(dir, { recursive: true, force: true })
    process.stdout.write('fleet torn down\n')
  }
}

main().then(
  code => process.exit(code),
  err => {
    console.error('demo failed:', err)
    process.exit(1)
  },
)
