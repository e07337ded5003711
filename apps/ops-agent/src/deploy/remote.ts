/**
 * What deploy runs on a host, as POSIX sh fed to `ssh HOST sh -s`. Layout under the prefix:
 *
 *   releases/<sha256>/   an extracted artifact (bin/ops-agent, lib/node, …), one per artifact ever installed
 *   current -> releases/<sha256>
 *   etc/agent.args       the agent's arguments, one per line (written by deploy, read by the supervisor)
 *   data/                the agent's data dir (agent.key, jobs, audit.log); never touched by deploy
 *   run/supervisor.pid   log/agent.log
 *
 * Every step compares before it writes, so a second deploy with the same artifact and config changes nothing and
 * leaves the running agent alone.
 */

/** Quotes `s` for POSIX sh. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`
}

/**
 * How the agent is kept running on a host. Today: a detached supervisor loop (hosts without systemd, containers,
 * tests). The systemd unit writer (src/service, `ops-agent install-service`) plugs in here as a second
 * implementation: same `start`/`stop` contract, chosen by the install script when `systemctl` is present.
 */
export interface ServiceManager {
  readonly name: string
  /** sh that defines `svc_running` (exit 0 when up), `svc_start` and `svc_stop`, using $PREFIX */
  shell(): string
}

/** A `while :; do agent; sleep 1; done` loop in its own session (setsid), with a pid file; TERM stops it and its agent. */
export const detachedSupervisor: ServiceManager = {
  name: 'detached',
  shell: () => `
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
svc_running() {
  [ -f "$PREFIX/run/supervisor.pid" ] && kill -0 "$(cat "$PREFIX/run/supervisor.pid")" 2>/dev/null
}
svc_stop() {
  if svc_running; then
    pid=$(cat "$PREFIX/run/supervisor.pid")
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$PREFIX/run/supervisor.pid"
}
svc_start() {
  write_supervisor
  setsid sh "$PREFIX/run/supervise.sh" "$PREFIX" < /dev/null > /dev/null 2>&1 &
  i=0
  while ! svc_running && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  svc_running || { echo "error supervisor did not start"; exit 1; }
}
`,
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
 * sh that installs (or leaves alone) the agent and prints `result changed=0|1 peer=PEER_ID service=NAME`, or
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
if [ $changed = 1 ] || ! svc_running; then
  svc_stop
  svc_start
  changed=1
fi
echo "result changed=$changed peer=$peer service=${s.service.name}"
`
}
