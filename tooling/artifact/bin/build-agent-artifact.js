#!/usr/bin/env node
// The `build-agent-artifact` bin. It is committed, not built, so that pnpm can link it on a fresh install before
// dist/ exists (a bin pointing into dist/ made every first `pnpm install` warn "Failed to create bin").
await import('../dist/cli.js')
