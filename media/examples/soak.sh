#!/usr/bin/env bash
# Media soak series: runs examples/soak.rs for each call count, one at a time,
# each bounded by `timeout`, and prints the SUMMARY lines. Before each run it
# waits (up to QUIET_WAIT s) for the machine to be quiet (other processes
# under 20 % of a core over 2 s) and logs uptime and the busiest processes.
#
#   cargo build --release -p media --example soak
#   media/examples/soak.sh [SECONDS] [N...]      (default 20 s; 100 .. 4000 calls)
#   EXTRA="--workers 1" media/examples/soak.sh 20 3000
#   EXTRA="--record" media/examples/soak.sh 20 1000    (every call recorded)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-20}; shift || true
CALLS=${*:-100 500 1000 2000 3000 4000}
BIN=${SOAK:-$ROOT/target/release/examples/soak}
QUIET_WAIT=${QUIET_WAIT:-120}
ulimit -n "$(ulimit -Hn)"   # 4 sockets per call in the engine, 2 in the generator

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
for n in $CALLS; do
  waited=0
  while :; do
    b0=$(busy); sleep 2; b1=$(busy)
    pct=$(( (b1 - b0) / 2 ))   # ticks are 1/100 s: % of one core
    if [ "$pct" -lt 20 ] || [ "$waited" -ge "$QUIET_WAIT" ]; then break; fi
    waited=$((waited + 2))
  done
  echo "=== $n calls, $(date -u +%FT%TZ), background ${pct}% of a core before start, $(uptime | sed 's/.*load/load/')"
  ps -eo pcpu,comm --sort=-pcpu | sed -n 2,4p | tr '\n' ';'; echo
  # shellcheck disable=SC2086
  timeout $((SECS + 90)) "$BIN" --calls "$n" --seconds "$SECS" --warmup 3 ${EXTRA:-}
done
