/**
 * The controller's view of the fleet: a pnet node joined through one agent and the agents its routing table knows.
 * Jobs go out as broadcasts and their reports come back as broadcast replies (controller/exec.ts).
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Logger, TransportFactory } from '@pnet/network'
import { silentLogger } from '@pnet/network'
import { createNode, type Node } from '@pnet/node'
import { INFO_CHANNEL, type InfoReply } from '../protocol/reports.js'

export interface FleetInit {
  key: PrivateKey
  /** the one agent to join through */
  via: string
  transports?: TransportFactory[]
  logger?: Logger
  /** ms to wait for the first link and a settled routing table (default 10 s) */
  joinTimeoutMs?: number
  /**
   * Agents the caller knows belong (a fleet it has just started): the join waits, within `joinTimeoutMs`, until every
   * one is routed, not only until the table looks settled. Those still unrouted when the wait ends are in `missing()`.
   */
  expect?: PeerId[]
}

export interface Fleet {
  readonly node: Node
  /** agents reachable now (the controller's routing table) */
  peers(): PeerId[]
  /** hops to `peer`, when routed */
  hops(peer: PeerId): number | undefined
  /** the `expect`ed agents that are not routed now */
  missing(): PeerId[]
  close(): Promise<void>
}

/** When the agent at `via` cannot say how many nodes it reaches, the table is settled after this long without a change. */
const SETTLE_MS = 100

export class FleetJoinError extends Error {
  override readonly name = 'FleetJoinError'
  readonly code = 'ERR_FLEET_JOIN'
}

/** The node that waits for routes: anything with a routing table and its change events (an agent's or a controller's node). */
export type RoutingNode = Pick<Node, 'reachable' | 'on' | 'off'>

/**
 * Waits until `node` routes to every one of `peers`, or `timeoutMs` passes; resolves with those still not routed
 * (empty when all are). A fleet that was started a moment ago takes a few route updates to converge: wait for it
 * before counting on `*`.
 *
 * @example
 * ```ts
 * const missing = await waitForRoutes(root.node, agents.map(a => a.node.id), { timeoutMs: 10_000 })
 * if (missing.length > 0) console.error(`${missing.length} agents not routed from the root`)
 * ```
 */
export async function waitForRoutes(
  node: RoutingNode,
  peers: PeerId[],
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<PeerId[]> {
  const unrouted = (): PeerId[] => {
    const routed = new Set(node.reachable().map(String))
    return peers.filter(p => !routed.has(p.toString()))
  }
  if (unrouted().length === 0) return []
  return await new Promise<PeerId[]>(resolve => {
    const finish = (): void => {
      clearTimeout(timer)
      node.off('route:change', check)
      opts.signal?.removeEventListener('abort', finish)
      resolve(unrouted())
    }
    const check = (): void => {
      if (unrouted().length === 0) finish()
    }
    const timer = setTimeout(finish, opts.timeoutMs)
    node.on('route:change', check)
    opts.signal?.addEventListener('abort', finish, { once: true })
  })
}

/**
 * Joins the overlay through `via` and waits until the routing table has settled (the agent there sends its whole
 * table at once; then nothing changes for a moment).
 *
 * @example
 * ```ts
 * const fleet = await joinFleet({ key, via: 'tcp://10.0.0.1:4001' })
 * console.log(fleet.peers().length, 'agents reachable')
 * ```
 */
export async function joinFleet(init: FleetInit): Promise<Fleet> {
  const log = init.logger ?? silentLogger
  const node = await createNode({ key: init.key, join: [], transports: init.transports, logger: log })
  await node.start()
  const timeout = init.joinTimeoutMs ?? 10_000
  let viaPeer: PeerId
  try {
    viaPeer = await node.connect(init.via, { signal: AbortSignal.timeout(timeout) })
  } catch (err) {
    await node.stop()
    throw new FleetJoinError(`cannot join the fleet through ${init.via}: ${(err as Error).message}`)
  }
  // settled: we route to as many nodes as the agent at `via` says we can reach through it; when it cannot say, a
  // quiet moment without route changes after the first route
  let expected: number | undefined
  try {
    expected = (await node.request<InfoReply>(viaPeer, INFO_CHANNEL, {}, { signal: AbortSignal.timeout(timeout) }))
      .reachable
  } catch (err) {
    log.warn({ via: init.via, err: String(err) }, 'the agent at via did not say how many nodes it knows')
  }
  let last = Date.now()
  const onChange = (): void => {
    last = Date.now()
  }
  node.on('route:change', onChange)
  const deadline = Date.now() + timeout
  const settled = (): boolean =>
    expected !== undefined
      ? node.reachable().length >= expected
      : node.reachable().length > 0 && Date.now() - last >= SETTLE_MS
  while (Date.now() < deadline && !settled()) {
    await new Promise(r => setTimeout(r, 25))
  }
  node.off('route:change', onChange)
  const expect = init.expect ?? []
  await waitForRoutes(node, expect, { timeoutMs: Math.max(0, deadline - Date.now()) })
  const routed = (): Set<string> => new Set(node.reachable().map(String))
  return {
    node,
    peers: () => node.reachable(),
    hops: peer => node.router.route(peer)?.hops,
    missing: () => {
      const now = routed()
      return expect.filter(p => !now.has(p.toString()))
    },
    close: () => node.stop({ drainMs: 1_000 }),
  }
}
