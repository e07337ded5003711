import { defineConfig } from 'vitest/config'
import { shared } from '../../tooling/vitest.shared.ts'

// Scenario files share two cores with whatever else runs: one at a time, so figures are not skewed by each other.
export default defineConfig({ test: { ...shared, fileParallelism: false, testTimeout: 180_000, hookTimeout: 120_000 } })
