#!/usr/bin/env node
// Entry point behind `npm test`, `npm run demo` and friends.
//
// It must work on a fresh machine that has only the system Node (20) and npm: it provisions a pinned Node
// (>= 22.12, needed by vitest 5, changesets 3 and the QUIC module) and a pinned pnpm into the git-ignored `.tools/`
// folder, installs the workspace with the committed lockfile, then runs the requested job with that toolchain first
// on PATH. This file therefore uses only what Node 20 ships: no dependencies, no TypeScript.
//
//   node tooling/setup/run.mjs test            build, lint, typecheck and test every package (turbo, cached)
//   node tooling/setup/run.mjs demo            build and run the demo
//   node tooling/setup/run.mjs setup           only provision and install
//   node tooling/setup/run.mjs turbo run X     any turbo task
//   node tooling/setup/run.mjs exec CMD ...    any command with the toolchain on PATH
//   node tooling/setup/run.mjs node FILE ...   a script under the pinned Node
//   node tooling/setup/run.mjs pnet ARGS ...   the pnet CLI (quiet setup and build first)
//   node tooling/setup/run.mjs ops-agent ARGS  the ops-agent CLI (likewise)
//   node tooling/setup/run.mjs fuzz ARGS       build, then fuzz every decoder (100,000 inputs each; --runs N)
//   node tooling/setup/run.mjs soak            build, then the netlab soak at full length (5 minutes, needs root)
//   node tooling/setup/run.mjs build-agent     the self-contained linux-x64 ops-agent artifact (tooling/artifact)
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const NODE_VERSION = '24.21.0'
const PNPM_VERSION = '10.34.9'
const MIN_NODE = [22, 12]

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const tools = join(root, '.tools')
const toolsBin = join(tools, 'bin')
const [job = 'test', ...rest] = process.argv.slice(2)
/** Our parent when we started: if it changes, it is gone (runForeground). */
const startedBy = process.ppid
/** CLI jobs print only what the CLI prints: setup and build stay silent unless they fail. */
const CLI_JOBS = {
  pnet: ['@pnet/node', 'packages/node/dist/cli/main.js'],
  'ops-agent': ['ops-agent', 'apps/ops-agent/dist/cli/main.js'],
}
/** Long runs of one package's script, after building it and what it depends on. */
const PACKAGE_JOBS = {
  fuzz: ['@pnet/fuzz', 'fuzz'],
  soak: ['@pnet/netlab', 'soak'],
}
const quiet = process.env.PNET_SETUP_QUIET === '1' || job in CLI_JOBS

function log(msg) {
  if (!quiet) process.stderr.write(`[setup] ${msg}\n`)
}

function fail(msg) {
  process.stderr.write(`[setup] error: ${msg}\n`)
  process.exit(1)
}

/** npm settings passed on to children: how to reach the registry (CA, TLS checking, registry, proxies). */
const KEEP_NPM_CONFIG = /^npm_config_(cafile|ca|strict_ssl|registry|proxy|https_proxy|noproxy)$/i

/**
 * Environment for every child: our toolchain first on PATH, npm's per-script variables removed. `forNpm`: without
 * pnpm-only settings, which npm warns about as unknown ("Unknown env config") on a fresh machine's first run.
 */
function childEnv({ forNpm = false } = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    // npm exports its config as npm_config_* to scripts; pnpm would read them as its own config (nodedir of the
    // system Node, for one), so the child starts from a clean slate, except for how to reach the registry: the
    // system npm reads those from its own global npmrc, which an npm run by our Node (another prefix) never sees,
    // so without them `npm pack` in a test fails behind a TLS-intercepting proxy whose CA only that file names.
    if (/^npm_(package|lifecycle)_/i.test(k)) continue
    if (/^npm_config_/i.test(k) && !KEEP_NPM_CONFIG.test(k)) continue
    env[k] = v
  }
  env.PATH = `${toolsBin}:${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`
  env.TURBO_TELEMETRY_DISABLED = '1'
  env.DO_NOT_TRACK = '1'
  env.TURBO_NO_UPDATE_NOTIFIER = '1'
  // a lockfile or settings change must not stop a non-interactive run at pnpm's "purge node_modules?" prompt
  if (!forNpm) env.npm_config_confirm_modules_purge = 'false'
  env.npm_config_update_notifier = 'false'
  return env
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: childEnv(), ...opts })
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`)
  return r.status ?? (r.signal ? 128 + 1 : 1)
}

/**
 * Runs a CLI in the foreground and passes on the signals that stop it. Blocked in spawnSync, this process would die
 * of a SIGTERM or SIGHUP sent to it (or to `npm run`, which forwards them here) and leave the CLI running on,
 * orphaned: an ops-agent controller would never cancel its job. A terminal's Ctrl-C reaches both processes; the CLI
 * takes a repeat within a second for the same one.
 */
async function runForeground(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: 'inherit', cwd: root, env: childEnv(), ...opts })
  const forward = signal => child.kill(signal)
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, forward)
  // `npm run` passes a SIGTERM to the shell it started us from, and that shell dies without passing it on: when
  // whoever started us is gone, hang up on the CLI as a closed terminal would
  const orphaned = setInterval(() => {
    if (process.ppid !== startedBy) {
      clearInterval(orphaned)
      child.kill('SIGHUP')
    }
  }, 250)
  try {
    const [code, signal] = await once(child, 'exit')
    return code ?? 128 + (constants.signals[signal] ?? 1)
  } catch (err) {
    fail(`could not run ${cmd}: ${err.message}`)
  } finally {
    clearInterval(orphaned)
  }
}

function versionOf(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined
}

function atLeast(version, [maj, min]) {
  const [a, b] = version.split('.').map(Number)
  return a > maj || (a === maj && b >= min)
}

function link(target, name) {
  const at = join(toolsBin, name)
  try {
    unlinkSync(at)
  } catch {}
  symlinkSync(target, at)
}

/** Puts node (>= 22.12) and pnpm (pinned) into .tools/bin, downloading them from the npm registry when needed. */
function provision() {
  const nodePkg = `node-${process.platform}-${process.arch}`
  const pinnedNode = join(tools, 'node_modules', nodePkg, 'bin', 'node')
  const pnpmCjs = join(tools, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')
  const haveNode = existsSync(pinnedNode) && versionOf(pinnedNode) === NODE_VERSION
  const havePnpm =
    existsSync(pnpmCjs) && readJson(join(tools, 'node_modules', 'pnpm', 'package.json'))?.version === PNPM_VERSION
  const systemOk = atLeast(process.versions.node, MIN_NODE)

  if ((!haveNode && !systemOk) || !havePnpm) {
    mkdirSync(tools, { recursive: true })
    writeFileSync(
      join(tools, 'package.json'),
      '{ "private": true, "description": "pinned toolchain, see tooling/setup/run.mjs" }\n',
    )
    const pkgs = [`pnpm@${PNPM_VERSION}`]
    // The registry's node-<platform>-<arch> packages hold the real Node binary and need no install script.
    if (!systemOk) pkgs.push(`${nodePkg}@${NODE_VERSION}`)
    log(`installing ${pkgs.join(' ')} into .tools/ (system Node is ${process.version})`)
    const r = spawnSync(
      'npm',
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', ...pkgs],
      {
        cwd: tools,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: childEnv({ forNpm: true }),
      },
    )
    if (r.status !== 0) fail(`npm install ${pkgs.join(' ')} failed (exit ${r.status}); is the npm registry reachable?`)
  }
  mkdirSync(toolsBin, { recursive: true })
  const nodeBin = systemOk ? process.execPath : pinnedNode
  if (!existsSync(nodeBin)) fail(`no Node >= ${MIN_NODE.join('.')} available (looked for ${pinnedNode})`)
  link(nodeBin, 'node')
  writeFileSync(join(toolsBin, 'pnpm'), `#!/bin/sh\nexec "${join(toolsBin, 'node')}" "${pnpmCjs}" "$@"\n`, {
    mode: 0o755,
  })
  const v = versionOf(join(toolsBin, 'node'))
  if (!v || !atLeast(v, MIN_NODE)) fail(`.tools/bin/node reports ${v ?? 'nothing'}, need >= ${MIN_NODE.join('.')}`)
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

function install() {
  const code = run(
    join(toolsBin, 'pnpm'),
    ['install', '--frozen-lockfile', '--prefer-offline', '--reporter=append-only'],
    {
      stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
    },
  )
  if (code !== 0) fail('pnpm install --frozen-lockfile failed (see above)')
}

provision()
install()

const pnpm = join(toolsBin, 'pnpm')
let code
switch (job) {
  case 'setup':
    code = 0
    break
  case 'test':
    code = run(pnpm, ['exec', 'turbo', 'run', 'lint', 'typecheck', 'test', '--continue', '--concurrency=2', '--output-logs=errors-only', ...rest])
    break
  case 'demo':
    code = run(pnpm, ['exec', 'turbo', 'run', 'build', '--filter=@pnet/demo...', '--output-logs=errors-only'])
    if (code === 0) code = run(join(toolsBin, 'node'), [join(root, 'tooling/demo/dist/demo.js'), ...rest])
    break
  case 'build-agent':
    code = run(pnpm, ['exec', 'turbo', 'run', 'build', '--filter=@pnet/artifact...', '--output-logs=errors-only'])
    if (code === 0) code = run(join(toolsBin, 'node'), [join(root, 'tooling/artifact/dist/cli.js'), ...rest])
    break
  case 'turbo':
    code = run(pnpm, ['exec', 'turbo', ...rest])
    break
  case 'exec':
    code = run(pnpm, ['exec', ...rest])
    break
  case 'node':
    code = run(join(toolsBin, 'node'), rest)
    break
  case 'pnet':
  case 'ops-agent': {
    const [pkg, entry] = CLI_JOBS[job]
    const build = spawnSync(pnpm, ['exec', 'turbo', 'run', 'build', `--filter=${pkg}...`, '--output-logs=errors-only'], {
      cwd: root,
      env: childEnv(),
      encoding: 'utf8',
    })
    if (build.status !== 0) {
      process.stderr.write(build.stdout + build.stderr)
      fail(`building ${pkg} failed`)
    }
    // how to run the CLI again, for the commands it prints (`--async`: "collect the results with: …")
    const env = job === 'ops-agent' ? { ...childEnv(), OPS_AGENT_PROG: 'npm run --silent ops-agent --' } : childEnv()
    code = await runForeground(join(toolsBin, 'node'), [join(root, entry), ...rest], { env })
    break
  }
  case 'fuzz':
  case 'soak': {
    const [pkg, script] = PACKAGE_JOBS[job]
    code = run(pnpm, ['exec', 'turbo', 'run', 'build', `--filter=${pkg}...`, '--output-logs=errors-only'])
    if (code === 0) code = run(pnpm, ['--filter', pkg, 'run', script, ...rest])
    break
  }
  default:
    fail(`unknown job "${job}" (expected test, demo, setup, build-agent, turbo, exec or node)`)
}
process.exit(code)
