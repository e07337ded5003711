/**
 * @packageDocumentation
 *
 * `@pnet/node`: a pnet node — network, channels and router composed — with what an application expects of a
 * peer-to-peer node: an identity in a key file, joining through one address of any node, lost links redialed with
 * backoff, dead links detected by keepalive, libp2p ping answered, metrics, and a stop that withdraws our routes at
 * once. The `pnet` CLI (bin of this package) runs a node as a daemon and inspects it through a control socket.
 *
 * @example
 * ```ts
 * import { createNode } from '@pnet/node'
 *
 * const a = await createNode({ keyFile: '/tmp/a.key', listen: ['tcp://127.0.0.1:0'] })
 * a.handle('ftp', async stream => {
 *   // one sink call takes the whole reply: hand it a transform of the source (a sink per chunk throws)
 *   await stream.sink(
 *     (async function* () {
 *       for await (const chunk of stream.source) yield Buffer.concat([chunk, Buffer.from(' world')])
 *     })(),
 *   )
 * })
 * await a.start()
 *
 * const b = await createNode({ keyFile: '/tmp/b.key', join: [a.addrs[0]!] })
 * await b.start()
 * const { stream } = await b.openStream(a.id, 'ftp')
 * await stream.sink([Buffer.from('hello')])
 * for await (const chunk of stream.source) console.log(chunk.toString())   // hello world
 * await b.stop(); await a.stop()
 * ```
 */

export { channelId } from '@pnet/channel'
export { silentLogger } from '@pnet/network'
export {
  backoffDelay,
  DEFAULT_DRAIN_MS,
  DEFAULT_KEEPALIVE,
  DEFAULT_RECONNECT,
  type KeepaliveOptions,
  PING_PROTOCOL,
  type ReconnectOptions,
} from './limits.js'
export { defaultLogger } from './logger.js'
export type { NodeMetrics, TrafficCounters } from './metrics.js'
export {
  createNode,
  defaultTransports,
  type Node,
  type NodeEvents,
  type NodeInit,
  type NodeLimits,
  type PeerInfo,
  type PingOptions,
  type PingReply,
  type RoutingOptions,
} from './node.js'
export { Pinger, servePing } from './ping.js'
