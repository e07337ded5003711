/**
 * A worker process hosting several agents. Each agent is a complete `startAgent` — its own key and data dir, its
 * own listener, its own connections — so sharing a process saves only the Node runtime per agent, nothing the
 * overlay can see. The worker exits as soon as its parent goes away (the IPC channel closes), so no agent outlives
 * its fleet.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { type Logger, silentLogger, tcp } from '@pnet/network'
import { type Agent, startAgent } from 'ops-agent'
import { pino } from 'pino'
import type { Reply, Request } from './ipc.js'

const agents = new Map<number, Agent>()
let profiler: Session | undefined

function reply(msg: Reply): void {
  process.send?.(msg)
}

async function handle(req: Request): Promise<Reply> {
  switch (req.op) {
    case 'start': {
      const { spec } = req
      const logger: Logger =
        spec.logLevel === 'silent'
          ? silentLogger
          : pino({ level: spec.logLevel, base: { pid: process.pid, agent: spec.tags.hostname } }, pino.destination(2))
      const agent = await startAgent({
        dataDir: spec.dataDir,
        listen: spec.listen,
        join: spec.join,
        tags: spec.tags,
        trust: spec.trust,
        keepalive: spec.keepalive,
        logger,
        transports: [tcp()],
      })
      agents.set(spec.index, agent)
      return { id: req.id, ok: true, result: { peer: agent.info.peer, addrs: agent.node.addrs.map(String) } }
    }
    case 'stop': {
      const agent = agents.get(req.index)
      if (agent === undefined) return { id: req.id, ok: false, error: `agent ${req.index} is not running here` }
      agents.delete(req.index)
      if (req.abrupt) {
        // as neighbours see a crash: stop() first (it stops redials at once), then reset every connection before
        // any goodbye it queued can leave
        const stopping = agent.stop()
        for (const conn of agent.node.network.connections()) conn.abort(new Error('agent killed'))
        await stopping.catch(() => undefined)
      } else await agent.stop()
      return { id: req.id, ok: true }
    }
    case 'stats': {
      const mem = process.memoryUsage()
      const cpu = process.cpuUsage()
      return {
        id: req.id,
        ok: true,
        result: {
          pid: process.pid,
          agents: agents.size,
          rss: mem.rss,
          heapUsed: mem.heapUsed,
          cpuMicros: cpu.user + cpu.system,
        },
      }
    }
    case 'profile-start': {
      profiler ??= new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.start')
      return { id: req.id, ok: true }
    }
    case 'profile-stop': {
      if (profiler === undefined) return { id: req.id, ok: false, error: 'the profiler was not started' }
      const { profile } = await profiler.post('Profiler.stop')
      profiler.disconnect()
      profiler = undefined
      await writeFile(req.file, JSON.stringify(profile))
      return { id: req.id, ok: true }
    }
    case 'shutdown':
      await Promise.allSettled([...agents.values()].map(a => a.stop()))
      agents.clear()
      return { id: req.id, ok: true }
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as Request
  handle(req).then(reply, (err: Error) => reply({ id: req.id, ok: false, error: err.message }))
})
// the fleet is gone (stopped, crashed or killed): nothing here may outlive it
process.on('disconnect', () => process.exit(0))
reply({ ready: true })
