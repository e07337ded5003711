/**
 * What deploy runs on a host, as POSIX sh fed to `ssh HOST sh -s`. Layout under the prefix:
 *
 *   releases/<sha256>/   an extracted artifact (bin/ops-agent, lib/node, …), one per artifact ever installed
 *   current -> releases/<sha256>
 *   etc/agent.args       the agent's arguments, one per line (written by deploy, read by the supervisor)
 *   etc/service          how the agent is kept running: `detached` or `systemd UNIT` (read by `ops-agent uninstall`)
 *   data/                the agent's data dir (agent.key, jobs, audit.log); never touched by deploy
 *   run/supervisor.pid   log/agent.log
 *
 * Every step compares before it writes, so a second deploy with the same artifact and config changes nothing and
 * leaves the running agent alone.
 */

import { SYSTEM_UNIT_DIR } from '../service/systemd.js'

/** Quotes `s` for POSIX sh. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`
}

/**
 * How the agent is kept running on a host: the systemd unit of src/service/systemd.ts where systemd is the init
 * (`/run/systemd/system` exists), else a detached supervisor loop (containers, minimal hosts, tests). `hostService`
 * carries both and picks on the host; `detachedSupervisor` and `systemdService` force one.
 */
export interface ServiceManager {
  readonly name: string
  /**
   * sh that defines `svc_prepare` (sets changed=1 when it rewrote something the running agent depends on),
   * `svc_running` (exit 0 when up), `svc_start`, `svc_stop`, and sets SVC_DESC (`detached` or `systemd UNIT`), using
   * $PREFIX
   */
  shell(): string
}

/** The detached supervisor's functions, named `<fn>_running` etc. */
function detachedShell(fn: string): string {
  return `
write_supervisor() {
  cat > "$PREFIX/run/supervise.sh.new" <<'SUPERVISE'
#!/bin/sh
# ops-agent supervisor (written by ops-agent deploy): restarts the agent when it exits, stops on TERM.
PREFIX=$1
child=
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; rm -f "$PREFIX/run/supervisor.pid"; exit 0' TERM INT
echo $$ > "$PREFIX/run/supervisor.pid"
set --
while IFS= read -r arg; do set -- "$@" "$arg"; done < "$PREFIX/etc/agent.args"
while :; do
  "$PREFIX/current/bin/ops-agent" agent "$@" >> "$PREFIX/log/agent.log" 2>&1 &
  child=$!
  wait "$child"
  echo "supervisor: agent exited with status $?, restarting in 1 s" >> "$PREFIX/log/agent.log"
  sleep 1
done
SUPERVISE
  mv -f "$PREFIX/run/supervise.sh.new" "$PREFIX/run/supervise.sh"
}
${fn}_prepare() { :; }
${fn}_running() {
  [ -f "$PREFIX/run/supervisor.pid" ] && kill -0 "$(cat "$PREFIX/run/supervisor.pid")" 2>/dev/null
}
${fn}_stop() {
  if ${fn}_running; then
    pid=$(cat "$PREFIX/run/supervisor.pid")
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$PREFIX/run/supervisor.pid"
}
${fn}_start() {
  write_supervisor
  setsid sh "$PREFIX/run/supervise.sh" "$PREFIX" < /dev/null > /dev/null 2>&1 &
  i=0
  while ! ${fn}_running && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  ${fn}_running || { echo "error supervisor did not start"; exit 1; }
}
`
}

/** A `while :; do agent; sleep 1; done` loop in its own session (setsid), with a pid file; TERM stops it and its agent. */
export const detachedSupervisor: ServiceManager = {
  name: 'detached',
  shell: () => `${detachedShell('svc')}SVC_DESC=detached
`,
}

/** The systemd functions for `unit` (its text from renderUnit), named `<fn>_running` etc. */
function systemdShell(fn: string, unit: string, unitText: string, unitDir: string): string {
  if (!/^[A-Za-z0-9:_.@-]+$/.test(unit)) throw new Error(`unit name ${JSON.stringify(unit)} is not valid`)
  if (unitText.includes('\nOPS_AGENT_UNIT_END\n')) throw new Error('the unit text holds the here-document marker')
  const file = shQuote(`${unitDir}/${unit}.service`)
  return `
${fn}_prepare() {
  cat > ${file}'.new' <<'OPS_AGENT_UNIT_END'
${unitText.trimEnd()}
OPS_AGENT_UNIT_END
  if cmp -s ${file}'.new' ${file}; then rm -f ${file}'.new'; else
    mv -f ${file}'.new' ${file} || fail "cannot write "${file}
    systemctl daemon-reload || fail "systemctl daemon-reload failed"
    changed=1
  fi
  systemctl enable --quiet ${unit}.service || fail "systemctl enable ${unit} failed"
}
${fn}_running() { systemctl is-active --quiet ${unit}.service; }
${fn}_stop() { systemctl stop ${unit}.service 2>/dev/null || true; }
${fn}_start() {
  systemctl restart ${unit}.service || fail "systemctl restart ${unit} failed: $(systemctl status --no-pager ${unit}.service 2>&1 | tail -n 3)"
}
`
}

/** Always the systemd unit (the host must run systemd); `unitDir` only moves for tests. */
export function systemdService(unit: string, unitText: string, unitDir = SYSTEM_UNIT_DIR): ServiceManager {
  return { name: 'systemd', shell: () => `${systemdShell('svc', unit, unitText, unitDir)}SVC_DESC='systemd ${unit}'\n` }
}

/**
 * systemd when the host runs it (the sd_booted(3) test: /run/systemd/system exists, and systemctl is there), else
 * the detached supervisor; decided on the host, by the install script.
 *
 * @example
 * ```ts
 * hostService('ops-agent', renderUnit({ execStart: ['/opt/ops-agent/current/bin/ops-agent', 'agent', …] }))
 * ```
 */
export function hostService(unit: string, unitText: string): ServiceManager {
  return {
    name: 'auto',
    shell: () => `${detachedShell('det')}${systemdShell('sd', unit, unitText, SYSTEM_UNIT_DIR)}
if [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1; then SVC=sd; SVC_DESC='systemd ${unit}'
else SVC=det; SVC_DESC=detached; fi
svc_prepare() { "\${SVC}_prepare"; }
svc_running() { "\${SVC}_running"; }
svc_start() { "\${SVC}_start"; }
svc_stop() { "\${SVC}_stop"; }
`,
  }
}

export interface InstallScript {
  prefix: string
  /** sha256 of the artifact (names the release folder) */
  sha256: string
  /** top folder inside the artifact tarball */
  name: string
  /** where the artifact was copied, when it had to be */
  upload: string
  /** agent arguments after `agent` */
  args: string[]
  service: ServiceManager
}

/** sh that prints `have` when the release is already unpacked (then no copy is needed), else `need`. */
export function probeScript(prefix: string, sha256: string): string {
  return `if [ -x ${shQuote(`${prefix}/releases/${sha256}/bin/ops-agent`)} ]; then echo have; else echo need; fi\n`
}

/**
 * sh that installs (or leaves alone) the agent and prints `result changed=0|1 peer=PEER_ID service=DESC`, or
 * `error REASON` and a non-zero exit.
 */
export function installScript(s: InstallScript): string {
  for (const a of s.args) if (/[\n\r]/.test(a)) throw new Error(`agent argument ${JSON.stringify(a)} has a newline`)
  return `set -u
PREFIX=${shQuote(s.prefix)}
SHA=${shQuote(s.sha256)}
NAME=${shQuote(s.name)}
UPLOAD=${shQuote(s.upload)}
fail() { echo "error $*"; exit 1; }
${s.service.shell()}
mkdir -p "$PREFIX/releases" "$PREFIX/etc" "$PREFIX/data" "$PREFIX/run" "$PREFIX/log" || fail "cannot create $PREFIX"
chmod 700 "$PREFIX/data"
changed=0
rel="$PREFIX/releases/$SHA"
if [ ! -x "$rel/bin/ops-agent" ]; then
  [ -f "$UPLOAD" ] || fail "artifact was not copied to $UPLOAD"
  tmp="$rel.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp" || fail "cannot create $tmp"
  tar -xzf "$UPLOAD" -C "$tmp" || fail "cannot extract $UPLOAD"
  [ -x "$tmp/$NAME/bin/ops-agent" ] || fail "artifact has no $NAME/bin/ops-agent"
  mv "$tmp/$NAME" "$rel" && rm -rf "$tmp" || fail "cannot move the release into $rel"
  changed=1
fi
rm -f "$UPLOAD"
if [ "$(readlink "$PREFIX/current" 2>/dev/null)" != "$rel" ]; then
  ln -sfn "$rel" "$PREFIX/current" || fail "cannot point $PREFIX/current at $rel"
  changed=1
fi
cat > "$PREFIX/etc/agent.args.new" <<'OPS_AGENT_ARGS_END'
${s.args.join('\n')}
OPS_AGENT_ARGS_END
if cmp -s "$PREFIX/etc/agent.args.new" "$PREFIX/etc/agent.args"; then
  rm -f "$PREFIX/etc/agent.args.new"
else
  mv -f "$PREFIX/etc/agent.args.new" "$PREFIX/etc/agent.args"
  changed=1
fi
peer=$("$PREFIX/current/bin/ops-agent" keygen --key "$PREFIX/data/agent.key") || fail "the artifact does not run here"
printf '%s\n' "$SVC_DESC" > "$PREFIX/etc/service.new" && mv -f "$PREFIX/etc/service.new" "$PREFIX/etc/service"
svc_prepare
if [ $changed = 1 ] || ! svc_running; then
  svc_stop
  svc_start
  changed=1
fi
echo "result changed=$changed peer=$peer service=$SVC_DESC"
`
}
