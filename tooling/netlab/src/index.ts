/**
 * @packageDocumentation
 *
 * `@pnet/netlab`: the reliability lab. It builds hosts as Linux network namespaces joined by veth pairs (line, ring,
 * tree, two sites joined by a bridge host), with addresses from 198.18.0.0/15 only, runs `pnet daemon`,
 * `ops-agent agent` and `netlab-peer` processes inside them, cuts and restores links, kills and restarts processes,
 * and always tears everything down (destroy, process exit, SIGINT/SIGTERM, and a sweep of what dead owners left).
 * Needs root.
 *
 * @example
 * ```ts
 * import { createLab, startPeer, topologyEdges } from '@pnet/netlab'
 *
 * const lab = createLab({ hosts: 3, edges: topologyEdges({ kind: 'line', hosts: 3 }) })
 * try {
 *   const a = await startPeer(lab, 0, { dir: '/tmp/lab' })
 *   await startPeer(lab, 1, { dir: '/tmp/lab', join: [lab.tcp(0, 1)] })
 *   const c = await startPeer(lab, 2, { dir: '/tmp/lab', join: [lab.tcp(1, 2)] })
 *   await a.until(async () => (await a.command({ op: 'route', peer: c.id })).route !== null)
 *   console.log(await a.command({ op: 'transfer', peer: c.id, bytes: 1 << 20, seed: 1 }))   // sha === expected
 * } finally {
 *   lab.destroy()
 * }
 * ```
 */

export { canBuildLabs, IpCommandError, listNamespaces, namespacePids, sweepStale } from './ip.js'
export { createLab, type ExecResult, Lab, type LabInit, type LabLink, LabUnavailableError } from './lab.js'
export * from './limits.js'
export { payloadChunks, payloadSha256 } from './payload.js'
export { LabProcess, type SpawnOptions } from './process.js'
export { percentile, type ResultsFile, recordFigures } from './results.js'
export { type CommandReply, type PeerOptions, type PeerProc, startAgent, startDaemon, startPeer } from './runners.js'
export { type Edge, hopsFrom, type TopologyKind, type TopologySpec, topologyEdges } from './topology.js'
