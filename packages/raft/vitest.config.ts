import { defineConfig } from 'vitest/config'
import { shared } from '../../tooling/vitest.shared.ts'

export default defineConfig({ test: { ...shared } })
