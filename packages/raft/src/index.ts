export * from './errors.js'
export { createRaftCore, type RaftCore, type RaftCoreInit, type RaftStatus } from './raft.js'
export type * from './types.js'
