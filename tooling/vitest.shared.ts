/**
 * Vitest settings every package shares. Tests start real sockets and processes, so timeouts are generous and
 * files run in forked processes (one crashed file cannot take the others down).
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const shared = {
  // CLIs that tests start keep their state (the ops-agent job history) here, never in the user's config dir
  env: { XDG_CONFIG_HOME: join(tmpdir(), 'pnet-test-config') },
  include: ['test/**/*.test.ts'],
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
  teardownTimeout: 10_000,
  reporters: ['default'],
}
