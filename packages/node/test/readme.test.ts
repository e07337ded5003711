/**
 * Every ```ts block of the README runs, as a user would run it: written to a file inside this package (so that
 * `@pnet/*` imports resolve as they do for a dependent) and executed by the pinned Node, which strips the types.
 * A block that is not a whole program says so in its fence, ```ts no-run: <why>, and is reported as skipped with
 * that reason. An example that breaks fails here, not in a user's hands.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

interface Block {
  line: number
  info: string
  code: string
}

/** ```ts blocks (and their fence's info string) of a markdown file, indented ones included */
function tsBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\b(.*)$/.exec(lines[i]!)
    if (open === null) continue
    const indent = open[1]!.length
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent))
    blocks.push({ line: i + 1, info: open[3]!.trim(), code: body.join('\n') })
    i = j
  }
  return blocks
}

const pkgDir = fileURLToPath(new URL('..', import.meta.url))
const workDir = `${pkgDir}.readme-run`
const blocks = tsBlocks(readFileSync(`${pkgDir}README.md`, 'utf8'))

afterAll(() => rmSync(workDir, { recursive: true, force: true }))

describe('@pnet/node README examples', () => {
  it('has examples', () => {
    expect(blocks.length).toBeGreaterThan(0)
  })

  for (const [n, block] of blocks.entries()) {
    const skip = /^no-run\b:?\s*(.*)$/.exec(block.info)
    if (skip !== null) {
      it.skip(`block ${n + 1} (README.md:${block.line}) is not run: ${skip[1] || 'no reason given'}`, () => {})
      continue
    }
    it(`block ${n + 1} (README.md:${block.line}) runs`, () => {
      mkdirSync(workDir, { recursive: true })
      const file = `${workDir}/block-${n + 1}.mts`
      writeFileSync(file, block.code)
      const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', file], {
        cwd: workDir,
        encoding: 'utf8',
        timeout: 45_000,
      })
      expect(r.error, r.stderr).toBeUndefined()
      expect(
        r.status,
        `README.md:${block.line} exited ${r.status}${r.signal ? ` (${r.signal})` : ''}\n${r.stderr}`,
      ).toBe(0)
    })
  }

  it('the top README has no TypeScript examples to run (its code blocks are shell commands)', () => {
    const top = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
    expect(tsBlocks(top)).toEqual([])
  })
})
