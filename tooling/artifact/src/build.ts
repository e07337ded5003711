/**
 * Builds the ops-agent artifact: stage the pinned Node runtime, the bundled app, the QUIC package and the launcher,
 * write a manifest of every file's sha256, then archive. The archive is cached under the manifest's hash, so an
 * unchanged app costs a bundle and a hash, not a recompression.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Metafile } from 'esbuild'
import { listTree, normaliseModes, writeArchive } from './archive.js'
import { bundleApp, bundleQuic, locateApp } from './bundle.js'
import { ArtifactError } from './errors.js'
import { fetchPackage } from './fetch.js'
import { LAUNCHER } from './launcher.js'
import { NODE_INTEGRITY, NODE_PACKAGE, NODE_VERSION, PLATFORM } from './pins.js'

/** Bumped when the layout or the archive format changes, so cached archives of the old format are not reused. */
const FORMAT = 1
/** A lock older than this belongs to a builder that died; the next one takes over. */
const STALE_LOCK_MS = 10 * 60_000

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** Git-ignored (under node_modules), survives between test runs. */
export const DEFAULT_CACHE_DIR = join(packageRoot, 'node_modules', '.cache', 'ops-agent-artifact')
/** `npm run build:agent` writes here (the repo's git-ignored dist/). */
export const DEFAULT_OUT_DIR = resolve(packageRoot, '../../dist/artifacts')

export interface BuildOptions {
  /** where to put the archive; default: the cached archive itself */
  out?: string
  /** or a folder to put it in as `<name>.tar.gz` (the CLI uses DEFAULT_OUT_DIR) */
  outDir?: string
  cacheDir?: string
  /** include the QUIC transport (default true); without it quic:// fails with @pnet/network's install hint */
  quic?: boolean
  /**
   * the version the agent reports and the artifact is named after (default: the ops-agent package's), e.g. a
   * release candidate or a build to test `ops-agent upgrade` with
   */
  version?: string
}

/** Everything in the artifact, by path inside its top folder. */
export interface Manifest {
  name: 'ops-agent'
  version: string
  platform: string
  node: string
  quic: string | null
  /** path → sha256 (hex) */
  files: Record<string, string>
}

export interface Artifact {
  /** the archive */
  path: string
  /** its top-level folder, e.g. ops-agent-0.1.0-linux-x64 */
  name: string
  size: number
  sha256: string
  manifest: Manifest
  /** true when an archive of identical contents was already in the cache */
  cached: boolean
  /** esbuild's view of the app bundle (for --analyze) */
  metafile: Metafile
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

/**
 * Builds (or finds in the cache) the linux-x64 ops-agent artifact.
 *
 * @example
 * ```ts
 * const a = await buildArtifact()
 * console.log(a.path, a.size, a.sha256)   // …/<hash>.tar.gz 45012345 3f9c…
 * ```
 */
export async function buildArtifact(opts: BuildOptions = {}): Promise<Artifact> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR
  await mkdir(cacheDir, { recursive: true })
  const app = await locateApp()
  const nodeDir = await fetchPackage(NODE_PACKAGE, NODE_VERSION, { cacheDir, integrity: NODE_INTEGRITY })
  const version = opts.version ?? app.version
  if (!/^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/.test(version)) {
    throw new ArtifactError('ERR_INPUT', `version "${version}" must be letters, digits and . _ - (at most 64)`)
  }
  const name = `ops-agent-${version}-${PLATFORM}`
  const stage = await mkdtemp(join(cacheDir, 'stage-'))
  try {
    const root = join(stage, name)
    await mkdir(join(root, 'bin'), { recursive: true })
    await mkdir(join(root, 'lib'), { recursive: true })
    await writeFile(join(root, 'bin', 'ops-agent'), LAUNCHER)
    await copyFile(join(nodeDir, 'bin', 'node'), join(root, 'lib', 'node'))
    await copyFile(join(nodeDir, 'LICENSE'), join(root, 'lib', 'node.LICENSE'))
    const metafile = await bundleApp(
      app.entry,
      join(root, 'lib', 'ops-agent.mjs'),
      opts.version === undefined ? undefined : version,
    )
    const quic = opts.quic === false ? null : (await bundleQuic(app.entry, join(root, 'lib'), cacheDir)).version
    await normaliseModes(root, new Set(['bin/ops-agent', 'lib/node']))
    const files: Record<string, string> = {}
    for (const rel of await listTree(root)) {
      if ((await stat(join(root, rel))).isFile()) files[rel] = await sha256File(join(root, rel))
    }
    const manifest: Manifest = {
      name: 'ops-agent',
      version,
      platform: PLATFORM,
      node: NODE_VERSION,
      quic,
      files,
    }
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`
    await writeFile(join(root, 'manifest.json'), manifestText, { mode: 0o644 })
    const key = createHash('sha256').update(`format ${FORMAT}\n${manifestText}`).digest('hex').slice(0, 32)
    const cachedFile = join(cacheDir, 'artifacts', `${name}-${key}.tar.gz`)
    const cached = await archiveOnce(cachedFile, () => writeArchive(stage, name, `${cachedFile}.tmp-${process.pid}`))
    let path = cachedFile
    const out = opts.out ?? (opts.outDir === undefined ? undefined : join(opts.outDir, `${name}.tar.gz`))
    if (out !== undefined) {
      path = resolve(out)
      await mkdir(dirname(path), { recursive: true })
      await copyFile(cachedFile, `${path}.tmp-${process.pid}`)
      await rename(`${path}.tmp-${process.pid}`, path)
    }
    return { path, name, size: (await stat(path)).size, sha256: await sha256File(path), manifest, cached, metafile }
  } finally {
    await rm(stage, { recursive: true, force: true })
  }
}

/**
 * Writes `file` with `write` (which writes `file.tmp-<pid>`) unless it exists; concurrent builders of the same
 * contents (two test files at once) wait for the first instead of compressing twice. Resolves true when it existed.
 */
async function archiveOnce(file: string, write: () => Promise<void>): Promise<boolean> {
  await mkdir(dirname(file), { recursive: true })
  const lock = `${file}.lock`
  for (;;) {
    if (await exists(file)) return true
    try {
      const h = await open(lock, 'wx')
      await h.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const age =
        Date.now() -
        (await stat(lock).then(
          s => s.mtimeMs,
          () => Date.now(),
        ))
      if (age > STALE_LOCK_MS) await rm(lock, { force: true })
      else await new Promise(r => setTimeout(r, 250))
    }
  }
  try {
    if (await exists(file)) return true
    await write()
    await rename(`${file}.tmp-${process.pid}`, file)
    return false
  } finally {
    await rm(lock, { force: true })
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  )
}

/** The manifest inside an extracted artifact folder. */
export async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
}
