#!/usr/bin/env node
// The `ops-agent` bin. It is committed, not built, so that pnpm can link it on a fresh install before dist/ exists
// (a bin pointing into dist/ made every first `pnpm install` warn "Failed to create bin" for each dependent).
// The CLI starts only when it is the process's main script (tests import it), so it is made the main script.
import { fileURLToPath } from 'node:url'

const entry = new URL('../dist/cli/main.js', import.meta.url)
process.argv[1] = fileURLToPath(entry)
try {
  await import(entry.href)
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(process.argv[1])) throw err
  process.stderr.write(`ops-agent: ${process.argv[1]} is missing; build first (npm run build)\n`)
  process.exitCode = 1
}
