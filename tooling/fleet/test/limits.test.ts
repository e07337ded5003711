import { generateKey, peerIdFromKey } from '@pnet/network'
import { waitFor } from '@pnet/network/testing'
import { describe, expect, it } from 'vitest'
import {
  awaitRoutes,
  DEDICATED_PROCESS_MAX_AGENTS,
  defaultAgentsPerProcess,
  FleetConfigError,
  FleetConvergeError,
  FleetStartError,
  MAX_AGENTS,
  MAX_AGENTS_PER_PROCESS,
  SHARED_AGENTS_PER_PROCESS,
  startFleet,
} from '../src/index.js'
import { leftovers } from './helpers.js'

describe('limits', () => {
  it('MAX_AGENTS: a bigger fleet is refused before anything starts', async () => {
    await expect(startFleet({ count: MAX_AGENTS + 1 })).rejects.toThrow(FleetConfigError)
    await expect(startFleet({ count: MAX_AGENTS + 1 })).rejects.toThrow(`count ${MAX_AGENTS + 1} is over the limit`)
  })

  it('MAX_AGENTS_PER_PROCESS: more agents in one process are refused', async () => {
    await expect(startFleet({ count: 3, agentsPerProcess: MAX_AGENTS_PER_PROCESS + 1 })).rejects.toThrow(
      `agentsPerProcess must be an integer from 1 to ${MAX_AGENTS_PER_PROCESS}`,
    )
  })

  it('DEDICATED_PROCESS_MAX_AGENTS / SHARED_AGENTS_PER_PROCESS: small fleets are real processes, big ones share', () => {
    expect(defaultAgentsPerProcess(DEDICATED_PROCESS_MAX_AGENTS)).toBe(1)
    expect(defaultAgentsPerProcess(DEDICATED_PROCESS_MAX_AGENTS + 1)).toBe(SHARED_AGENTS_PER_PROCESS)
  })

  it('startTimeoutMs (START_TIMEOUT_MS): an agent that is not up in time fails the start and is torn down', async () => {
    await expect(startFleet({ count: 2, agentsPerProcess: 1, startTimeoutMs: 1 })).rejects.toThrow(FleetStartError)
    await expect(startFleet({ count: 2, agentsPerProcess: 1, startTimeoutMs: 1 })).rejects.toThrow(
      /agent-000 \(pid \d+\) did not start within 1 ms/,
    )
    await waitFor(() => leftovers().length === 0, 'no fleet processes left', 10_000)
  })

  it('convergeTimeoutMs (CONVERGE_TIMEOUT_MS): routes that do not appear in time fail, naming the agents', async () => {
    const fleet = await startFleet({ count: 2, topology: 'line', agentsPerProcess: 2 })
    try {
      const ghost = { peer: peerIdFromKey(await generateKey()).toString(), host: 'ghost-7' }
      const started = Date.now()
      const err = await awaitRoutes(fleet.root, [...fleet.agents, ghost], { timeoutMs: 300 }).catch((e: unknown) => e)
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(err).toBeInstanceOf(FleetConvergeError)
      expect((err as Error).message).toBe('no route from the root to 1 of 3 agents after 300 ms: ghost-7')
      await awaitRoutes(fleet.root, fleet.agents, { timeoutMs: 10_000 }) // the real ones are all there
    } finally {
      await fleet.stop()
    }
  })
})
