/**
 * @packageDocumentation
 *
 * `ops-agent`: an agent on every fleet host and a controller that runs commands on many of them at once through the
 * pnet overlay, reaching hosts through other hosts, with every host accounted for. The CLI (bin `ops-agent`) is the
 * usual way in; this module exposes the same pieces for tests and embedding.
 *
 * @example
 * ```ts
 * import { execute, joinFleet, parseSelectors } from 'ops-agent'
 * import { loadOrCreateKey } from '@pnet/network'
 *
 * const key = await loadOrCreateKey('controller.key')
 * const fleet = await joinFleet({ key, via: 'tcp://10.0.0.1:4001' })
 * const run = await execute({ key, fleet, selectors: parseSelectors(['role=web']), command: { argv: ['uptime'] } })
 * console.log(run.summary)          // { targeted: 12, ok: 12, failed: 0, … }
 * await fleet.close()
 * ```
 */
export { type Agent, type AgentInit, startAgent } from './agent/agent.js'
export {
  type AgentConfig,
  type AgentSettings,
  agentFlags,
  ConfigError,
  LOG_LEVELS,
  type LogLevel,
  loadAgentConfig,
  mergeAgentConfig,
  parseAgentConfig,
  resolveAgentSettings,
  validateAgentConfig,
} from './agent/config.js'
export { type RunResult, type RunSpec, runCommand } from './agent/executor.js'
export { type JobRecord, JobStore } from './agent/job-store.js'
export {
  collectStatus,
  type DiskStatus,
  hostStatus,
  type InterfaceStatus,
  type SystemStatus,
} from './agent/status.js'
export { agentTags, parseTag } from './agent/tags.js'
export { findInstall, type Install, verifyRelease } from './agent/upgrade-release.js'
export { type WatchOutcome, watchUpgrade } from './agent/upgrade-watch.js'
export {
  type ExecOptions,
  type ExecRun,
  type ExecSummary,
  execute,
  type HostResult,
  inventory,
  planWaves,
  resolveTargets,
} from './controller/exec.js'
export { type Fleet, FleetJoinError, joinFleet, type RoutingNode, waitForRoutes } from './controller/fleet.js'
export {
  capOutput,
  defaultHistoryPath,
  type History,
  HistoryError,
  type JobDetail,
  type JobEntry,
  type JobKind,
  type JobSummary,
  type NewJob,
  type NewResult,
  openHistory,
  type ResultStatus,
  type StoredResult,
} from './controller/history.js'
export { groupedOutput, hostList, LivePrinter, summaryLine } from './controller/output.js'
export { DEFAULT_PUSH_TIMEOUT_MS, fileSha256, type PushOptions, type PushRun, pushFile } from './controller/push.js'
export { globToRegExp, parseSelectors, SelectorError, type Selectors } from './controller/selector.js'
export { formatBytes, formatUptime, type StatusRow, statusTable } from './controller/status-table.js'
export { type UpgradeOptions, type UpgradeRun, upgradeFleet } from './controller/upgrade.js'
export { type DeployOptions, deploy, type HostOutcome } from './deploy/deploy.js'
export { detachedSupervisor, hostService, installScript, type ServiceManager, systemdService } from './deploy/remote.js'
export * from './limits.js'
export { canonicalJson } from './protocol/canonical.js'
export {
  decodeSignedJob,
  encodeSignedJob,
  type Job,
  JobRefusedError,
  type SignedJob,
  signJob,
  verifyJob,
} from './protocol/job.js'
export {
  decodeReportBatch,
  encodeReportBatch,
  JOB_CHANNEL,
  type Report,
  type ReportBatch,
  ReportError,
} from './protocol/reports.js'
