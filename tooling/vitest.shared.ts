/**
 * Vitest settings every package shares. Tests start real sockets and processes, so timeouts are generous and
 * files run in forked processes (one crashed file cannot take the others down).
 */
export const shared = {
  include: ['test/**/*.test.ts'],
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
  teardownTimeout: 10_000,
  reporters: ['default'],
}
