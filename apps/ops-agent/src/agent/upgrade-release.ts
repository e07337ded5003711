/**
 * Where a deployed agent lives, and turning a received artifact into a release beside the running one. Layout (made
 * by `ops-agent deploy`, src/deploy/remote.ts):
 *
 *   PREFIX/releases/<sha256 of the artifact>/   bin/ops-agent, lib/node, lib/ops-agent.mjs, manifest.json
 *   PREFIX/current -> releases/<sha256>          what the supervisor (or the systemd unit) starts
 *   PREFIX/etc/service                            `detached` or `systemd UNIT` (how the agent is kept running)
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readlinkSync, realpathSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises'
import { basename, delimiter, dirname, join } from 'node:path'

/** A deployed agent's install, found from the running program's own path. */
export interface Install {
  prefix: string
  /** PREFIX/releases/<sha256>: the release this process runs from */
  release: string
  releases: string
  /** PREFIX/current */
  current: string
}

/**
 * The install this agent runs from, or why it is not one made by `ops-agent deploy` (then it cannot upgrade or
 * uninstall itself: whoever installed it some other way has to).
 *
 * @example
 * ```ts
 * const here = findInstall()
 * if (typeof here === 'string') console.error(here)
 * ```
 */
export function findInstall(entry: string | undefined = process.argv[1]): Install | string {
  const notDeployed = (why: string): string =>
    `this agent was not installed by ops-agent deploy (${why}); upgrade or remove it the way it was installed`
  if (entry === undefined) return notDeployed('its program path is unknown')
  let file: string
  try {
    file = realpathSync(entry)
  } catch {
    return notDeployed(`cannot resolve ${entry}`)
  }
  const release = dirname(dirname(file))
  const releases = dirname(release)
  if (
    basename(dirname(file)) !== 'lib' ||
    basename(releases) !== 'releases' ||
    !/^[0-9a-f]{64}$/.test(basename(release))
  ) {
    return notDeployed(`it runs from ${file}, not PREFIX/releases/<sha256>/lib`)
  }
  const prefix = dirname(releases)
  const current = join(prefix, 'current')
  let target: string
  try {
    target = realpathSync(current)
  } catch {
    return notDeployed(`${current} does not exist`)
  }
  if (target !== release) return notDeployed(`${current} points to ${target}, not to the running ${release}`)
  return { prefix, release, releases, current }
}

/** Points PREFIX/current at `release` in one step (a new symlink renamed over the old). */
export async function pointCurrent(install: Pick<Install, 'current'>, release: string): Promise<void> {
  const tmp = `${install.current}.new-${process.pid}`
  await rm(tmp, { force: true })
  await symlink(release, tmp)
  await rename(tmp, install.current)
}

/** Where PREFIX/current points now (undefined when it is missing). */
export function currentTarget(install: Pick<Install, 'current'>): string | undefined {
  try {
    return readlinkSync(install.current)
  } catch {
    return undefined
  }
}

/** The system's tar (deploy needs it too); the agent may run with an empty PATH, so the usual places are tried. */
function tarBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin']) {
    if (dir !== '' && existsSync(join(dir, 'tar'))) return join(dir, 'tar')
  }
  throw new Error('no tar on this host (looked on PATH, /usr/bin, /bin)')
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 120_000, maxBuffer: 1024 * 1024 }, (err, _out, stderr) => {
      if (err === null) resolve()
      else reject(new Error(`${basename(file)} ${args.join(' ')}: ${stderr.trim() || err.message}`))
    })
  })
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** What an artifact's manifest.json says about it (tooling/artifact writes it). */
export interface ReleaseManifest {
  name: string
  version: string
  platform: string
  files: Record<string, string>
}

async function filesUnder(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const name of (await readdir(join(root, prefix))).sort()) {
    const rel = prefix === '' ? name : `${prefix}/${name}`
    const st = await lstat(join(root, rel))
    if (st.isDirectory()) out.push(...(await filesUnder(root, rel)))
    else out.push(rel)
  }
  return out
}

/**
 * Checks an unpacked release against its manifest: every file listed, with its sha256, and nothing else. Throws
 * naming the first file that differs.
 */
export async function verifyRelease(dir: string): Promise<ReleaseManifest> {
  let m: ReleaseManifest
  try {
    m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ReleaseManifest
  } catch (err) {
    throw new Error(`the artifact has no readable manifest.json: ${(err as Error).message}`)
  }
  if (m.name !== 'ops-agent' || typeof m.version !== 'string' || typeof m.files !== 'object' || m.files === null) {
    throw new Error('manifest.json does not describe an ops-agent artifact')
  }
  if (m.platform !== `${process.platform}-${process.arch}`) {
    throw new Error(`the artifact is for ${m.platform}, this host is ${process.platform}-${process.arch}`)
  }
  const present = (await filesUnder(dir)).filter(f => f !== 'manifest.json')
  const listed = Object.keys(m.files).sort()
  const extra = present.filter(f => m.files[f] === undefined)
  if (extra.length > 0) throw new Error(`the artifact holds ${extra[0]}, which its manifest does not list`)
  for (const rel of listed) {
    if (!present.includes(rel)) throw new Error(`the artifact lacks ${rel}, which its manifest lists`)
    if ((await sha256Of(join(dir, rel))) !== m.files[rel]) throw new Error(`${rel} does not match its manifest sha256`)
  }
  if (((await stat(join(dir, 'bin', 'ops-agent')).catch(() => undefined))?.mode ?? 0) & 0o111) return m
  throw new Error('the artifact has no executable bin/ops-agent')
}

/**
 * Unpacks the artifact `tarball` (already checked against its signed sha256) into `releases/<sha256>`, verifies it
 * against its manifest, and resolves with the manifest. A release folder that is already there and verifies is
 * reused; the tarball is removed either way.
 */
export async function unpackRelease(
  install: Install,
  tarball: string,
  sha256: string,
  tag: string,
): Promise<{ dir: string; manifest: ReleaseManifest }> {
  const dir = join(install.releases, sha256)
  const work = join(install.releases, `.unpack-${tag}`)
  try {
    if (existsSync(dir)) {
      const ok = await verifyRelease(dir).catch(() => undefined)
      if (ok !== undefined) return { dir, manifest: ok }
      await rm(dir, { recursive: true, force: true })
    }
    await rm(work, { recursive: true, force: true })
    await mkdir(work, { mode: 0o755 })
    await run(tarBinary(), ['-xzf', tarball, '-C', work, '--no-same-owner'])
    const tops = await readdir(work)
    const top = tops[0]
    if (tops.length !== 1 || top === undefined || !/^ops-agent-[\w.-]+$/.test(top)) {
      throw new Error(`the artifact must hold one ops-agent-<version>-<platform> folder, it holds ${tops.join(', ')}`)
    }
    const manifest = await verifyRelease(join(work, top))
    await rename(join(work, top), dir)
    return { dir, manifest }
  } finally {
    await rm(work, { recursive: true, force: true })
    await rm(tarball, { force: true })
  }
}

/** Removes releases other than `keep` (the new one and the one before it, for a manual rollback). */
export async function pruneReleases(install: Pick<Install, 'releases'>, keep: string[]): Promise<string[]> {
  const removed: string[] = []
  for (const name of await readdir(install.releases).catch(() => [] as string[])) {
    const path = join(install.releases, name)
    if (keep.includes(path) || !/^[0-9a-f]{64}$/.test(name)) continue
    await rm(path, { recursive: true, force: true })
    removed.push(path)
  }
  return removed
}
