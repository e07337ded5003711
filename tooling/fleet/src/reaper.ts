/**
 * The reaper: a small detached process per fleet that kills the fleet's processes if the process that started the
 * fleet dies without stopping it (a test runner killed, Ctrl-C, a crash). It learns pids on stdin (`+PID`, `-PID`);
 * stdin reaching its end means the parent is gone — unless the parent said `done` first. A `dir PATH` line names the
 * fleet's own temporary dir, removed once the processes are dead.
 */
import { rmSync } from 'node:fs'
import { descendants, signal, waitGone } from './procs.js'

const pids = new Set<number>()
let dir: string | undefined
let done = false
let buffered = ''

process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
  buffered += chunk
  let nl = buffered.indexOf('\n')
  while (nl >= 0) {
    const line = buffered.slice(0, nl).trim()
    buffered = buffered.slice(nl + 1)
    if (line === 'done') done = true
    else if (line.startsWith('dir ')) dir = line.slice(4)
    else if (/^[+-]\d+$/.test(line)) {
      const pid = Number(line.slice(1))
      if (line[0] === '+') pids.add(pid)
      else pids.delete(pid)
    }
    nl = buffered.indexOf('\n')
  }
})
process.stdin.on('end', async () => {
  if (!done) {
    const all = [...pids, ...descendants([...pids])]
    for (const pid of all) signal(pid, 'SIGKILL')
    await waitGone(all, 5_000)
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
  process.exit(0)
})
// a Ctrl-C meant for the test run must not take the reaper down before it has done its job
process.on('SIGINT', () => undefined)
process.on('SIGHUP', () => undefined)
