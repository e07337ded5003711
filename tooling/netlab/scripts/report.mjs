#!/usr/bin/env node
// Turns results/figures.json (written by the scenario tests) into the tables of docs/RELIABILITY.md, between the
// markers <!-- netlab:begin --> and <!-- netlab:end -->. Usage: node scripts/report.mjs [--print]
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const resultsFile = process.env.NETLAB_RESULTS ?? join(here, '..', 'results', 'figures.json')
const doc = join(here, '..', '..', '..', 'docs', 'RELIABILITY.md')
if (!existsSync(resultsFile)) {
  process.stderr.write(
    `no figures at ${resultsFile}: run the scenarios first (cd tooling/netlab && pnpm exec vitest run)\n`,
  )
  process.exit(1)
}
const all = JSON.parse(readFileSync(resultsFile, 'utf8'))

const num = v =>
  typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2)) : v == null ? '—' : String(v)
const ms = v => (typeof v === 'number' ? `${Math.round(v).toLocaleString('en-US')} ms` : '—')
const table = rows => ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')

function section(key, title, rows) {
  const r = all[key]
  if (r === undefined) return `### ${title}\n\n_not recorded yet_\n`
  const load = r.load === undefined ? '' : ` (load average ${r.load.avg1} on ${r.load.cpus} cores)`
  return `### ${title}\n\n${table(rows(r.figures))}\n\nRecorded ${r.recordedAt.slice(0, 16).replace('T', ' ')} UTC${load} by \`${r.command}\`.\n`
}

const parts = [
  section('line', '1a. 8-host line: ends reach each other', f => [
    ['faults injected', 'none (baseline: 6 `pnet daemon` relays between two peers)'],
    ['route to the far end after start', ms(f.convergeMs)],
    ['hops', f.hops],
    [
      'checksummed transfer',
      `${f.transferMiB} MiB each way in ${ms(f.transferMs)}, corrupted bytes ${f.corruptedBytes}`,
    ],
    ['ping p50 / p99 (7 hops)', `${num(f.pingP50Ms)} / ${num(f.pingP99Ms)} ms`],
  ]),
  section('ring-cut', '1b. 8-host ring: a link on the path cut under load', f => [
    ['faults injected', `link 1—2 down (no FIN/RST) while transfers and pings run; restored later`],
    ['keepalive / link timeout', `${f.keepaliveMs} ms / ${f.linkTimeoutMs} ms`],
    ['time to recover: route over the other side', ms(f.rerouteMs)],
    ['first new stream completed after the cut', ms(f.firstNewStreamMs)],
    ['ping gap', ms(f.pingGapMs)],
    ['back to the short path after restore', ms(f.restoreRerouteMs)],
    ['transfers completed / failed loudly', `${f.transfersCompleted} / ${f.transfersFailedLoudly} (of ${f.transfers})`],
    ['bytes verified by sha256', num(f.bytesVerified)],
    ['corrupted bytes (must be 0)', f.corruptedBytes],
    ['pings lost', `${f.pingsLost} of ${f.pings}`],
  ]),
  section('ops-tree', '2. ops exec across a 12-host, 3-level tree; two agents SIGKILLed mid-command', f => [
    ['faults injected', `${f.killed} agents SIGKILLed after accepting the job`],
    ['controller sees all agents after start', ms(f.convergeMs)],
    ['exec wall time (command sleeps 4 s)', ms(f.execMs)],
    [
      'summary',
      Object.entries(f.summary)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    ['killed agents reported as', f.killedStatus.join(', ')],
    ['survivors that ran the job exactly once (audit log)', `${f.survivorsExecutedOnce} of ${f.agents - f.killed}`],
    ['jobs lost (must be 0)', f.jobsLost],
  ]),
  section('async-restart', '3. Agent restarted during an async job', f => [
    [
      'faults injected',
      'the target agent restarted 1 s into a 3 s `--async` job (same data dir), by SIGTERM and by SIGKILL',
    ],
    ...['SIGTERM', 'SIGKILL']
      .filter(k => f[k] !== undefined)
      .map(k => [
        `${k}: \`job ID --wait\` reports`,
        `${f[k].status}${f[k].reason ? ` (“${f[k].reason}”)` : ''}; executions ${f[k].executions}; audit ${f[k].audit.join(', ')}${f[k].commandFinishedAnyway ? '; the orphaned command finished on its own' : ''}`,
      ]),
  ]),
  section('soak-full', '4. Soak, full length', soakRows),
  section('soak-ci', '4. Soak, CI length', soakRows),
  section('flood', '5. Floods against one node', f => [
    [
      'faults injected',
      `each attack alone for ${f.phaseMs / 1000} s, then all at once; the attacker pinned to the other core, redialing with the same identity when cut`,
    ],
    ['legit ping p50 / p99, unloaded', `${num(f.calmP50Ms)} / ${num(f.calmP99Ms)} ms (${f.calmPings} pings)`],
    ...f.phases.map(p => [
      `under ${p.attacks.split(',').length > 1 ? 'all at once' : p.attacks}`,
      `p50 ${num(p.p50Ms)} ms, p99 ${num(p.p99Ms)} ms = **${num(p.p99Ratio)}×** unloaded${p.p99Ratio > 10 ? ' (over 10×: FAILS)' : ''}; ${p.lost} of ${p.pings + p.lost} pings lost; RSS peak ${num(p.rssPeakMiB ?? 0)} MiB; ${attackText(p)}`,
    ]),
    [
      'target RSS before / peak',
      `${num(f.rssBeforeMiB)} / ${num(f.rssPeakMiB)} MiB (growth ${num(f.rssPeakMiB - f.rssBeforeMiB)} MiB${f.rssGrowthLimitMiB === undefined ? '' : `, limit ${num(f.rssGrowthLimitMiB)}`})`,
    ],
  ]),
  section('security', '6. Security', f => [
    ['wrong peer ID at a known address', f.wrongPeerId ? `refused (${f.wrongPeerId.error}), no link kept` : '—'],
    [
      'expired channel token',
      f.expiredToken
        ? `${f.expiredToken.refused}; no token: ${f.expiredToken.withoutToken}; current token: ${f.expiredToken.currentToken}`
        : '—',
    ],
    ['untrusted controller', f.jobs ? `${f.jobs.untrustedRefused} of 2 hosts refused` : '—'],
    [
      'job replayed 3× by a third node',
      f.jobs ? `executed ${f.jobs.executions}×; audit: ${f.jobs.replayDecisions.join(', ')}` : '—',
    ],
    ['job retargeted to another agent', f.jobs ? f.jobs.retargetedDecision.join(', ') : '—'],
    ['expired job', f.jobs ? f.jobs.expiredDecision : '—'],
    [
      'relay flipping one bit',
      f.bitFlip ? `stream ${f.bitFlip.transfer}; links intact: ${f.bitFlip.linksIntact}` : '—',
    ],
  ]),
]

function attackText(p) {
  const a = p.attack
  const parts = []
  if (a.connectAttempts > 0)
    parts.push(`${num(p.connectAttemptsPerSec)} connects/s (${num(a.connectAccepted)} accepted)`)
  if (a.halfOpen > 0) parts.push(`${a.halfOpen} half-open, ${a.halfOpenClosedByTarget} closed by the node`)
  if (a.streamsOpened + a.streamsRefused > 0) {
    parts.push(
      `bombs: ${num(a.streamsOpened)} streams opened, ${num(a.streamsRefused)} not (cut or stalled), ${num(a.bombConnectionsCut ?? 0)} connections cut, ${num(a.bombDialsFailed ?? 0)} redials refused`,
    )
  }
  if (a.oversizedSent > 0) {
    parts.push(
      `${num(a.oversizedSent)} oversized frames, ${num(a.oversizedRefused)} refused, ${num(a.oversizedConnectionsCut ?? 0)} connections cut, ${num(a.oversizedDialsFailed ?? 0)} redials refused`,
    )
  }
  return parts.join('; ')
}

function soakRows(f) {
  return [
    [
      'faults injected',
      `${f.flaps} random link flaps (mean ${ms(f.meanDownMs)} down) on an ${f.hosts}-host ring over ${f.durationS} s`,
    ],
    ['checksummed transfers ok / failed loudly', `${f.transfersOk} / ${f.transfersFailedLoudly}`],
    ['bytes verified', num(f.bytesVerified)],
    ['corrupted bytes (must be 0)', f.corruptedBytes],
    [
      'ops jobs (every host accounted for)',
      `${f.jobs}: ${Object.entries(f.hostResults)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    ],
    ['jobs lost (must be 0)', f.jobsLost],
    ['RSS growth after warm-up per process', `${f.rssGrowthAfterWarmupMiB.join(', ')} MiB`],
  ]
}

const body = parts.join('\n')
if (process.argv.includes('--print')) {
  process.stdout.write(`${body}\n`)
  process.exit(0)
}
const text = readFileSync(doc, 'utf8')
const begin = '<!-- netlab:begin -->'
const end = '<!-- netlab:end -->'
const at = text.indexOf(begin)
const to = text.indexOf(end)
if (at < 0 || to < at) throw new Error(`${doc} lacks the ${begin} … ${end} markers`)
writeFileSync(doc, `${text.slice(0, at + begin.length)}\n\n${body}\n${text.slice(to)}`)
// the repository's formatter aligns the tables (the doc is checked with the rest)
const biome = join(here, '..', '..', '..', 'node_modules', '.bin', 'biome')
if (existsSync(biome)) spawnSync(biome, ['format', '--write', doc], { stdio: 'ignore' })
process.stdout.write(`updated ${doc}\n`)
