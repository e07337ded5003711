/**
 * `npm run demo`: the ops fan-out. A local fleet of 10 agents in a tree (each knows only its parent), a controller
 * that knows only the root runs a command on every agent through the overlay, the output and the summary are shown,
 * and the fleet is torn down.
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
} from 'ops-agent'

const AGENTS = 10
const BRANCHING = 3

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
    process.stdout.write(`controller ${controller}\n  joins through the root only: ${root}\n\n`)

    const started = performance.now()
    const fleet = await joinFleet({ key: controllerKey, via: root, transports: [tcp()] })
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
