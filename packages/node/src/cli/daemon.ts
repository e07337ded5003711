/**
 * `pnet daemon`: a node until SIGINT/SIGTERM. Bound addresses go to stdout (`listening <multiaddr>/p2p/<id>`, one
 * per line, for scripts); logs go to stderr as JSON lines (pino).
 */
import { pino } from 'pino'
import { serveControl } from '../control/server.js'
import { createNode } from '../node.js'

export interface DaemonOptions {
  keyFile: string
  listen: string[]
  join: string[]
  control: string
  logLevel: string
  metric: 'hops' | 'rtt' | undefined
  keepaliveMs: number | undefined
  linkTimeoutMs: number | undefined
}

/** Runs until a signal; resolves with the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const logger = pino({ level: opts.logLevel, base: { pid: process.pid } }, pino.destination(2))
  const node = await createNode({
    keyFile: opts.keyFile,
    listen: opts.listen,
    join: opts.join,
    logger,
    routing: { metric: opts.metric },
    keepalive: {
      ...(opts.keepaliveMs !== undefined ? { intervalMs: opts.keepaliveMs } : {}),
      ...(opts.linkTimeoutMs !== undefined ? { timeoutMs: opts.linkTimeoutMs } : {}),
    },
  })
  await node.start()
  const control = await serveControl(node, opts.control, logger)
  for (const addr of node.addrs) process.stdout.write(`listening ${addr.toString()}\n`)
  return new Promise(resolve => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      logger.info({ signal }, 'stopping')
      void (async () => {
        await control.close().catch(() => {})
        await node.stop()
        logger.flush()
        resolve(0)
      })()
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}
