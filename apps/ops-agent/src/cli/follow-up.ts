/**
 * The command `--async` tells the operator to run later. It has to work as printed — pasted into the same shell,
 * from the same directory — so it carries what `ops-agent job` needs that it cannot know by itself: the key (to sign
 * the collect job), where to join (`--via`), and the history file when it is not the default one.
 */
import { defaultHistoryPath } from '../controller/history.js'

/** Set by tooling/setup/run.mjs: the CLI was started as `npm run --silent ops-agent --` from the repository. */
export const PROG_ENV = 'OPS_AGENT_PROG'

/** A word as the shell reads it back: bare when it holds nothing the shell treats specially, else single-quoted. */
export function shellWord(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s
  return `'${s.replaceAll("'", "'\\''")}'`
}

/**
 * `ops-agent job ID --wait --key FILE --via ADDR [--db FILE]`, shell-quoted. The key is the absolute path the run
 * resolved, so the command still works after a `cd`.
 *
 * @example
 * ```ts
 * collectCommand('3f9c…', { keyFile: '/home/ana/.ops/ctl.key', via: 'tcp://10.0.0.1:4001', dbPath: defaultHistoryPath() })
 * // 'ops-agent job 3f9c… --wait --key /home/ana/.ops/ctl.key --via tcp://10.0.0.1:4001'
 * ```
 */
export function collectCommand(
  jobId: string,
  flags: { keyFile: string; via: string; dbPath: string },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const prog = env[PROG_ENV] || 'ops-agent'
  const args = ['job', jobId, '--wait', '--key', flags.keyFile, '--via', flags.via]
  if (flags.dbPath !== defaultHistoryPath(env)) args.push('--db', flags.dbPath)
  return [prog, ...args.map(shellWord)].join(' ')
}
