/**
 * @packageDocumentation
 *
 * `@pnet/cluster`: membership that survives failure, a consistent hash ring and vector clocks.
 *
 * - Vector clocks (`vclock.ts`): increment, merge, compare, prune, strict compact encoding.
 * - Consistent hash ring (`ring.ts`): virtual nodes, weights, `find(key, n)` → n distinct owners.
 * - SWIM + Lifeguard membership (`swim/`): a pure state machine (no I/O, no timers) fed with time, messages and
 *   ticks; it returns messages to send and membership events. The I/O binding over @pnet/router comes later.
 * - `@pnet/cluster/sim`: a virtual-time simulator running many machines over a lossy, partitionable network.
 * - `@pnet/cluster/internal`: the wire codec — Ed25519-signed envelopes, each statement signed by the only member
 *   allowed to make it (docs/protocol/cluster.md).
 *
 * @example
 * ```ts
 * import { compareVClocks, createRing, createVClock, incrementVClock } from '@pnet/cluster'
 *
 * const ring = createRing({ members: [{ id: 'a' }, { id: 'b', weight: 2 }, { id: 'c' }] })
 * ring.find('user:42', 2)                       // two distinct owners, e.g. ['b', 'a']
 *
 * const v1 = incrementVClock(createVClock(), 'a')
 * compareVClocks(v1, incrementVClock(v1, 'b'))  // 'before'
 * ```
 */
export * from './errors.js'
export * from './limits.js'
export { createRing, type Ring, type RingInit, type RingMember, ringHash } from './ring.js'
export {
  createSwim,
  type MemberInfo,
  type MembershipEvent,
  type MembershipEventType,
  type Swim,
  type SwimCounters,
  type SwimInit,
  type SwimOutput,
} from './swim/machine.js'
export {
  type Gossip,
  type MemberMeta,
  type MemberStatus,
  type Outgoing,
  type SwimMessage,
  signerOf,
} from './swim/messages.js'
export { retransmitLimit, suspicionFloor, suspicionTimeout } from './swim/suspicion.js'
export {
  compareVClocks,
  createVClock,
  decodeVClock,
  encodeVClock,
  incrementVClock,
  mergeVClocks,
  type PruneOptions,
  pruneVClock,
  type VClock,
  type VClockEntry,
  type VClockOrder,
  vclockCounter,
} from './vclock.js'
