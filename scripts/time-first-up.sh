#!/usr/bin/env bash
# Times a first `cargo xtask up` as a new user meets it: a fresh clone of the committed HEAD in a
# temporary directory and an empty target directory (every dependency compiled from scratch), on
# this machine. Prints each line of `up`'s output with the seconds since the start, then the time
# until "OrderFlow is ready."; then stops it with SIGINT (Ctrl-C), shows the stop lines and checks
# that nothing is left listening. The figure belongs in docs/operations.md ("First run").
#
# Run it on a quiet machine (nothing else compiling): the figure is the machine's, not ours, if
# other work shares the cores. FRESH_CARGO_HOME=1 also starts from an empty cargo home (crates are
# downloaded again, as on a machine that never built Rust); KEEP=1 keeps the clone and its target
# directory (about 15 GB) under /tmp.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/orderflow-first-up.XXXXXX)
# mktemp makes it 0700; as root, PostgreSQL runs as `postgres`, which must reach .run/pg in it.
chmod 755 "$work"
cleanup() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid" || true; wait "$pid" || true; fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
# Interrupted (Ctrl-C, a closed terminal): stop `up` on the way out too.
trap 'exit 130' INT TERM HUP
git clone --quiet --no-local "$repo" "$work/orderflow"
cd "$work/orderflow"
export CARGO_TARGET_DIR="$work/target"
if [ "${FRESH_CARGO_HOME:-0}" = 1 ]; then export CARGO_HOME="$work/cargo-home"; fi
# `up` finds nats-server and PostgreSQL as a user's shell would; unset any test overrides.
unset ORDERFLOW_NATS_SERVER_BIN
echo "==> $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo); commit $(git rev-parse --short HEAD); load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
log="$work/up.log"
# A session of its own, as in a terminal: the Ctrl-C below reaches `up` alone.
setsid cargo xtask up >"$log" 2>&1 &
pid=$!
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
shown=0
while :; do
  total=$(wc -l <"$log")
  if [ "$total" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${total}p" "$log" | while IFS= read -r line; do
      printf '%7s  %s\n' "$(elapsed)" "$line"
    done
    shown=$total
  fi
  grep -q "OrderFlow is ready." "$log" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "cargo xtask up exited before it was ready; see the lines above" >&2
    exit 1
  fi
  sleep 0.5
done
ready=$(elapsed)
compiled=$(grep -c "^ *Compiling " "$log" || true)
kill -INT "$pid"
wait "$pid" || true
pid=
sed -n '/==> Stopping/,$p' "$log"
open=$(for port in 4222 5433 8080 8081 8082 8090 5173; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && echo "$port"; done || true)
[ -z "$open" ] || { echo "still listening after the stop: $open" >&2; exit 1; }
# The load average again: a figure taken while other work ran is that work's as much as ours.
awk -v r="$ready" -v c="$compiled" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  printf "\nfirst `cargo xtask up`: ready after %d s (%d min %02d s), %d crates compiled; load now %s\n", r, r / 60, r % 60, c, load
}'
