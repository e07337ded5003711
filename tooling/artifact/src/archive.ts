/**
 * A reproducible tar.gz of a staged folder: entries sorted, every mtime the same, no owner names or ids, modes
 * normalised to 0755 (executables, folders) or 0644, and a gzip header without a timestamp.
 */
import { chmod, lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { c as create } from 'tar'
import { ARCHIVE_MTIME, GZIP_LEVEL } from './pins.js'

/** Every path under `root` (relative, folders before their contents, sorted by name). */
export async function listTree(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  const names = (await readdir(join(root, prefix))).sort()
  for (const name of names) {
    const rel = prefix === '' ? name : `${prefix}/${name}`
    out.push(rel)
    if ((await lstat(join(root, rel))).isDirectory()) out.push(...(await listTree(root, rel)))
  }
  return out
}

/** Makes modes independent of the builder's umask: 0755 for folders and executables, 0644 for the rest. */
export async function normaliseModes(root: string, executables: ReadonlySet<string>): Promise<void> {
  for (const rel of await listTree(root)) {
    const st = await lstat(join(root, rel))
    await chmod(join(root, rel), st.isDirectory() || executables.has(rel) ? 0o755 : 0o644)
  }
}

/**
 * Writes `file`: a gzip'd tar of `top` (one folder inside `cwd`), byte-identical for identical contents.
 *
 * @example
 * ```ts
 * await writeArchive('/tmp/stage', 'ops-agent-0.1.0-linux-x64', 'out.tar.gz')
 * ```
 */
export async function writeArchive(cwd: string, top: string, file: string): Promise<void> {
  const entries = [top, ...(await listTree(join(cwd, top))).map(p => `${top}/${p}`)]
  await create(
    {
      file,
      cwd,
      gzip: { level: GZIP_LEVEL },
      portable: true,
      mtime: ARCHIVE_MTIME,
      noDirRecurse: true,
      strict: true,
    },
    entries,
  )
}
