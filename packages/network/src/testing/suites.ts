/**
 * Suites every pnet package runs on itself: its README examples run as a user would run them, and its exported
 * errors keep the convention (a literal `name`, an `ERR_*` code, the code listed in the README).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

/** A fenced TypeScript block of a markdown file. */
export interface CodeBlock {
  /** 1-based line of the opening fence */
  line: number
  /** what follows the language on the fence (`no-run: why`) */
  info: string
  code: string
}

/**
 * The ```ts blocks (and their fence's info string) of a markdown text, indented ones included.
 *
 * @example
 * ```ts
 * tsBlocks('```ts\nconsole.log(1)\n```\n')   // [{ line: 1, info: '', code: 'console.log(1)' }]
 * ```
 */
export function tsBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
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

/**
 * Runs every ```ts block of the package's README as a program: written to `<package>/.readme-run/` (so that
 * `@pnet/*` imports resolve as they do for a dependent) and executed by the running Node, which strips the types.
 * A block that is not a whole program says so in its fence, ```ts no-run: <why>, and is reported as skipped with
 * that reason; a no-run fence without a reason fails.
 *
 * @example
 * ```ts no-run: registers vitest tests; call it from a package's test file
 * readmeExamples('@pnet/router', new URL('..', import.meta.url))
 * ```
 */
export function readmeExamples(name: string, packageDir: URL): void {
  const pkgDir = fileURLToPath(packageDir)
  const workDir = `${pkgDir.replace(/\/$/, '')}/.readme-run`
  const blocks = tsBlocks(readFileSync(`${pkgDir.replace(/\/$/, '')}/README.md`, 'utf8'))

  describe(`${name} README examples`, () => {
    afterAll(() => rmSync(workDir, { recursive: true, force: true }))

    it('has examples', () => {
      expect(blocks.length).toBeGreaterThan(0)
    })

    for (const [n, block] of blocks.entries()) {
      const where = `block ${n + 1} (README.md:${block.line})`
      const skip = /^no-run\b:?\s*(.*)$/.exec(block.info)
      if (skip?.[1]) {
        it.skip(`${where} is not run: ${skip[1]}`, () => {})
        continue
      }
      if (skip !== null) {
        it(`${where} says why it is not run`, () => {
          expect.fail(`README.md:${block.line}: a no-run block needs a reason (\`\`\`ts no-run: <why>)`)
        })
        continue
      }
      it(`${where} runs`, () => {
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
  })
}

/** An exported error class, as the convention suite constructs it. */
// biome-ignore lint/suspicious/noExplicitAny: a class expression extending it needs a constructor taking any[]
export type ErrorClass = new (...args: any[]) => Error & { code?: unknown }

/**
 * Checks every error class `api` exports: a literal `name` equal to the class name (kept by a subclass or a bundler
 * that renames the class), a `code` in libp2p's ERR_UPPER_SNAKE style, a message, and the code listed in the
 * package README. `samples` gives each class's constructor arguments; a new class without an entry fails.
 *
 * @example
 * ```ts no-run: registers vitest tests; call it from a package's test file
 * import * as api from '../src/index.js'
 * errorConvention('@pnet/router', api, { NoRouteError: ['12D3KooA'] }, new URL('../README.md', import.meta.url))
 * ```
 */
export function errorConvention(
  name: string,
  api: Record<string, unknown>,
  samples: Record<string, unknown[]>,
  readmeFile: URL,
): void {
  const classes: [string, ErrorClass][] = Object.entries(api).flatMap(([n, v]) =>
    typeof v === 'function' && v.prototype instanceof Error ? [[n, v as ErrorClass] as [string, ErrorClass]] : [],
  )
  const readme = readFileSync(readmeFile, 'utf8')

  describe(`errors of ${name}`, () => {
    it('every exported error class is checked here', () => {
      expect(classes.map(([n]) => n).filter(n => !(n in samples))).toEqual([])
    })

    it.each(classes)('%s has a literal name, an ERR_ code and a message, and the README lists the code', (n, Cls) => {
      const args = samples[n] ?? []
      const err = new Cls(...args)
      expect(err.name).toBe(n)
      expect(err.code).toMatch(/^ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/)
      expect(err.message.length).toBeGreaterThan(0)
      expect(String(err.stack).startsWith(`${n}: `)).toBe(true)
      const Renamed = class extends Cls {}
      expect(new Renamed(...args).name).toBe(n)
      expect(readme).toContain(`\`${String(err.code)}\``)
    })
  })
}
