/**
 * esbuild steps: the ops-agent CLI and everything it imports into one ESM file, and the QUIC transport package into
 * a package folder of its own beside it, so the app's lazy `import('@chainsafe/libp2p-quic')` (and the check that it
 * is installed) work exactly as in a node_modules install.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { findPackageJSON } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build, type Metafile } from 'esbuild'
import { ArtifactError } from './errors.js'
import { fetchPackage } from './fetch.js'
import { QUIC_NATIVE_FILE, QUIC_NATIVE_PACKAGE, QUIC_PACKAGE } from './pins.js'

/** CommonJS dependencies (pino, ws) call `require` for Node built-ins; an ESM bundle has none unless we make one. */
const REQUIRE_SHIM =
  "import { createRequire as __artifactCreateRequire } from 'node:module'; const require = __artifactCreateRequire(import.meta.url);"

/** ws probes these optional native speedups in try/catch; leaving them out keeps the pure-JS paths. */
const OPTIONAL_NATIVE = ['bufferutil', 'utf-8-validate']

export interface AppSource {
  /** the ops-agent CLI entry (dist/cli/main.js) */
  entry: string
  version: string
}

/** Where the built ops-agent app is, as installed in this workspace. */
export async function locateApp(): Promise<AppSource> {
  const pkgJson = findPackageJSON('ops-agent', import.meta.url)
  if (pkgJson === undefined) throw new ArtifactError('ERR_INPUT', 'the ops-agent package is not installed')
  const { createRequire } = await import('node:module')
  const pkg = createRequire(import.meta.url)(pkgJson) as { version: string }
  // not pkg.bin: that is a committed shim that imports dist/ at run time; the bundle starts from the CLI itself
  return { entry: join(dirname(pkgJson), 'dist', 'cli', 'main.js'), version: pkg.version }
}

/**
 * Bundles the app into `outFile` (one ESM file; legal comments go to `outFile.LEGAL.txt`); `version` stamps the
 * version the agent reports (default: the package's).
 *
 * @example
 * ```ts
 * await bundleApp((await locateApp()).entry, 'stage/lib/ops-agent.mjs')
 * ```
 */
export async function bundleApp(entry: string, outFile: string, version?: string): Promise<Metafile> {
  try {
    const r = await build({
      entryPoints: [entry],
      outfile: outFile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      banner: { js: REQUIRE_SHIM },
      external: [QUIC_PACKAGE, ...OPTIONAL_NATIVE],
      // the agent reports this as its version (ops-agent's protocol/reports.ts reads the global when it is defined)
      ...(version === undefined ? {} : { define: { __OPS_AGENT_VERSION__: JSON.stringify(version) } }),
      legalComments: 'external',
      minifyWhitespace: true,
      minifySyntax: true,
      metafile: true,
      logLevel: 'silent',
    })
    return r.metafile
  } catch (err) {
    throw new ArtifactError('ERR_BUNDLE', `esbuild could not bundle ${entry}: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/**
 * Writes `<libDir>/node_modules/@chainsafe/libp2p-quic/` — the QUIC package bundled with its dependencies, and its
 * linux-x64 native module beside it, where the package's loader looks first.
 */
export async function bundleQuic(appEntry: string, libDir: string, cacheDir: string): Promise<{ version: string }> {
  const networkJson = findPackageJSON('@pnet/network', pathToFileURL(appEntry))
  const quicJson = networkJson === undefined ? undefined : findPackageJSON(QUIC_PACKAGE, pathToFileURL(networkJson))
  if (quicJson === undefined) {
    throw new ArtifactError('ERR_INPUT', `${QUIC_PACKAGE} is not installed beside @pnet/network; run pnpm install`)
  }
  const { createRequire } = await import('node:module')
  const quicPkg = createRequire(import.meta.url)(quicJson) as { version: string; exports: { '.': { import: string } } }
  const dir = join(libDir, 'node_modules', ...QUIC_PACKAGE.split('/'))
  await mkdir(dir, { recursive: true })
  try {
    await build({
      entryPoints: [join(dirname(quicJson), quicPkg.exports['.'].import)],
      outfile: join(dir, 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      banner: { js: REQUIRE_SHIM },
      legalComments: 'external',
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'silent',
    })
  } catch (err) {
    throw new ArtifactError('ERR_BUNDLE', `esbuild could not bundle ${QUIC_PACKAGE}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: QUIC_PACKAGE, version: quicPkg.version, type: 'module', exports: { '.': './index.js' } }, null, 2)}\n`,
  )
  // the workspace has the native module only when it was installed on linux-x64 (glibc); otherwise fetch it
  let nativeDir: string
  try {
    const json = findPackageJSON(QUIC_NATIVE_PACKAGE, pathToFileURL(quicJson))
    if (json === undefined) throw new Error('absent')
    nativeDir = dirname(json)
  } catch {
    nativeDir = await fetchPackage(QUIC_NATIVE_PACKAGE, quicPkg.version, { cacheDir })
  }
  await copyFile(join(nativeDir, QUIC_NATIVE_FILE), join(dir, QUIC_NATIVE_FILE))
  return { version: quicPkg.version }
}

/** Bytes each package contributes to the bundle, largest first (for `--analyze`). */
export function packageSizes(meta: Metafile): [string, number][] {
  const sizes = new Map<string, number>()
  for (const out of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(input)
      const name =
        m?.[1] ??
        input
          .replace(/^(\.\.\/)+/, '')
          .split('/')
          .slice(0, 2)
          .join('/')
      sizes.set(name, (sizes.get(name) ?? 0) + bytesInOutput)
    }
  }
  return [...sizes].sort((a, b) => b[1] - a[1])
}
