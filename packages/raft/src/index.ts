export { createRaftCore, type RaftCore, type RaftCoreInit, type RaftStatus } from './raft.js'
export * from './errors.js'
export type * from './types.js'
