#!/usr/bin/env bash
# Load benchmark of `personactl serve`: GET /api/personas/{id} with wrk (Debian package,
# installed if missing) on loopback, beside GET /healthz (the cheapest route: the HTTP
# stack's own floor) in the same run. Prints requests/s and latency percentiles.
#
# usage: scripts/bench-server.sh [SECONDS] [CONNECTIONS]      (defaults: 10 s, 64)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo build --release --quiet
work=$(mktemp -d)
# shellcheck source=scripts/start-server.sh
source scripts/start-server.sh
start_server target/release/personactl "$work"

printf '%s cores, %s s per route, %s connections, wrk with 1 thread (the server gets the rest)\n' "$(nproc)" "$secs" "$conns"
for route in /healthz /api/personas/coach; do
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$url$route")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-22s %10s req/s   p50 %8s   p99 %8s   %s\n' "$route" "$rps" "$p50" "$p99" "${errors:-no errors}"
done
