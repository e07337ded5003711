/**
 * `bin/ops-agent` inside the artifact: a POSIX sh script that runs the bundled Node on the bundled app. It uses shell
 * built-ins only (no dirname, no coreutils), so it works with an empty PATH; readlink (from PATH, else /usr/bin or
 * /bin) follows a symlink such as /usr/local/bin/ops-agent → /opt/ops-agent/current/bin/ops-agent.
 */
export const LAUNCHER = `#!/bin/sh
# ops-agent launcher: the Node runtime and the app are both inside this artifact; nothing on PATH is used.
self=$0
readlink=$(command -v readlink 2>/dev/null)
for rl in /usr/bin/readlink /bin/readlink; do [ -z "$readlink" ] && [ -x $rl ] && readlink=$rl; done
while [ -h "$self" ] && [ -n "$readlink" ]; do
  link=$("$readlink" "$self")
  case $link in
    /*) self=$link ;;
    *) self=\${self%/*}/$link ;;
  esac
done
case $self in
  */*) bindir=\${self%/*} ;;
  *) bindir=. ;;
esac
root=$(cd "$bindir/.." && pwd -P) || exit 127
exec "$root/lib/node" "$root/lib/ops-agent.mjs" "$@"
`
