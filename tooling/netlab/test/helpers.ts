import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { canBuildLabs, createLab, type Lab, type LabInit } from '../src/index.js'

/** Lab tests need root (network namespaces); elsewhere they are skipped with this reason in their name. */
export const ROOT = canBuildLabs()
export const NEEDS_ROOT = ROOT ? '' : ' [skipped: needs root for ip netns / veth]'

/** A lab and a temp dir, both removed after the file's tests (and by the lab's exit hooks if the run dies). */
export function labFixture(): { lab: (init: LabInit) => Lab; dir: () => string } {
  const labs: Lab[] = []
  let dir: string | undefined
  afterAll(() => {
    for (const l of labs) l.destroy()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })
  return {
    lab: init => {
      const l = createLab(init)
      labs.push(l)
      return l
    },
    dir: () => {
      dir ??= mkdtempSync(join(tmpdir(), 'netlab-'))
      return dir
    },
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms))
}

/** The command that reproduces a scenario's figures (recorded with them). */
export function commandFor(file: string): string {
  return `cd tooling/netlab && pnpm exec vitest run test/${file}`
}
