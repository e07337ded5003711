#!/usr/bin/env node
/**
 * `npm run build:agent [-- --out FILE] [--no-quic] [--analyze] [--version V]`: builds the linux-x64 ops-agent artifact and prints
 * its path, size and sha256 (and, with --analyze, which packages the bundle is made of).
 */
import { parseArgs } from 'node:util'
import { buildArtifact, DEFAULT_OUT_DIR } from './build.js'
import { packageSizes } from './bundle.js'
import { ArtifactError } from './errors.js'

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'no-quic': { type: 'boolean' },
      analyze: { type: 'boolean' },
      json: { type: 'boolean' },
      version: { type: 'string' },
    },
    strict: true,
  })
  const started = performance.now()
  const a = await buildArtifact({
    quic: values['no-quic'] !== true,
    ...(values.version === undefined ? {} : { version: values.version }),
    ...(values.out === undefined ? { outDir: DEFAULT_OUT_DIR } : { out: values.out }),
  })
  const secs = ((performance.now() - started) / 1000).toFixed(1)
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ path: a.path, size: a.size, sha256: a.sha256, manifest: a.manifest })}\n`)
  } else {
    process.stdout.write(
      `artifact ${a.path}\nsize     ${a.size} bytes (${(a.size / 1048576).toFixed(1)} MiB)\nsha256   ${a.sha256}\n` +
        `contents node ${a.manifest.node}, ops-agent ${a.manifest.version}, quic ${a.manifest.quic ?? 'absent'}` +
        ` (${a.cached ? 'archive from cache' : 'archived'}, ${secs} s)\n`,
    )
  }
  if (values.analyze === true) {
    for (const [pkg, bytes] of packageSizes(a.metafile).slice(0, 25)) {
      process.stdout.write(`  ${String(bytes).padStart(9)}  ${pkg}\n`)
    }
  }
  return 0
}

main().then(
  code => {
    process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`build-agent: ${err instanceof ArtifactError ? err.message : (err.stack ?? err.message)}\n`)
    process.exitCode = 1
  },
)
