/**
 * The demo as a user runs it: the built program, a real process, a real fleet of 10 agents on loopback. It fails if
 * any agent the demo started is missing from the first exec — the start-up race where the controller joined before
 * the root had learned the whole tree and `*` quietly meant 7 or 9 hosts.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const DEMO = fileURLToPath(new URL('../dist/demo.js', import.meta.url))
const RUNS = 3

function runDemo(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [DEMO], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

describe('npm run demo', { timeout: 180_000 }, () => {
  it(`every one of the 10 agents answers the first exec, ${RUNS} runs in a row`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const r = await runDemo()
      const context = `run ${run + 1}:\n${r.stdout}\n${r.stderr}`
      expect(r.stdout, context).toMatch(/\(10 agents reachable, up to \d+ hops away\)/)
      for (let i = 0; i < 10; i++) expect(r.stdout, context).toMatch(new RegExp(`^agent-${i}: Linux up \\d+s$`, 'm'))
      expect(r.stdout, context).toMatch(/^10 hosts: 10 ok in /m)
      expect(r.stdout, context).not.toMatch(/did not/)
      expect(r.code, context).toBe(0)
    }
  })
})
