import { defineConfig } from 'vitest/config'
import { shared } from '../../tooling/vitest.shared.ts'

// The files build the same cached artifacts: one at a time, so a cold cache is filled once instead of fought over.
export default defineConfig({ test: { ...shared, fileParallelism: false } })
