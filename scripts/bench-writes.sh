#!/usr/bin/env bash
# Benchmark the cost of a checked write against the size of the personas directory, each
# figure beside its baseline measured in the same run (medians of RUNS runs):
#
#   1. `set ID model.temperature X` in an N-persona directory   vs  `validate` of it
#      (a one-shot process reads the tree once: target <= 1.5x)
#   2. an HTTP PATCH of one persona through a running server in an N-persona directory
#      vs the same in a 10-persona directory (the server holds the catalog: target <= 2x)
#   3. `import` of M Markdown agent files into the N-persona directory, one command
#      vs `validate` of the result (target <= 2x)
#
# usage: scripts/bench-writes.sh [N_FILES] [RUNS] [M_IMPORTS]   (defaults: 10000 7 1000)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
m=${3:-1000}
gen=${GEN_CORPUS:-scripts/gen_corpus.py}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# PERSONACTL_BIN: a binary already built (skips the build).
if [ -z "${PERSONACTL_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${PERSONACTL_BIN:-$PWD/target/release/personactl}
# shellcheck source=scripts/timing.sh
source scripts/timing.sh

python3 "$gen" "$work/big" "$n" >/dev/null
python3 "$gen" "$work/small" 10 >/dev/null
# The default persona, so that every directory is valid as a whole.
for d in big small; do "$bin" init "$work/init-$d" >/dev/null; cp "$work/init-$d/journaling-assistant.toml" "$work/$d/"; done
"$bin" --dir "$work/big" validate >/dev/null

# 1. set vs validate. Each `set` really writes (the value alternates).
t=0.3
set_once() { t=$([ "$t" = 0.3 ] && echo 0.4 || echo 0.3); "$bin" --dir "$work/big" set persona-00042 model.temperature "$t"; }
t_validate=$(median "$bin" --dir "$work/big" validate)
t_set=$(median set_once)
"$bin" --dir "$work/big" validate >/dev/null
awk -v s="$t_set" -v v="$t_validate" -v n="$n" 'BEGIN {
  printf "set in %d personas      %7.3f s   validate %7.3f s   set/validate %5.2fx (target <= 1.5x)\n", n, s, v, s / v }'

# 2. PATCH through a running server, 10k vs 10 personas.
# Started here, not in a command substitution (a subshell), so that the trap knows their pids.
serve() { # dir outfile
  "$bin" --dir "$1" --sessions "$work/s-$(basename "$1").jsonl" serve --addr 127.0.0.1:0 >"$2" 2>/dev/null &
  pids+=($!)
}
url_of() { # outfile -> url, once the server listens
  for _ in $(seq 300); do grep -q '^listening on ' "$1" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$1"
}
serve "$work/big" "$work/out-big"
serve "$work/small" "$work/out-small"
url_big=$(url_of "$work/out-big")
url_small=$(url_of "$work/out-small")
patch_ms() { # url id requests -> median ms per PATCH
  python3 - "$1" "$2" "$3" <<'PY'
import http.client, json, sys, time, urllib.parse
url, pid, k = urllib.parse.urlparse(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection(url.hostname, url.port)
times = []
for i in range(k + 3):
    body = json.dumps({"model": {"temperature": 0.3 if i % 2 else 0.4}})
    t0 = time.perf_counter()
    c.request("PATCH", f"/api/personas/{pid}", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, r.reason)
    if i >= 3:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"{times[len(times) // 2] * 1000:.3f}")
PY
}
p_big=$(patch_ms "$url_big" persona-00042 $((runs * 5)))
p_small=$(patch_ms "$url_small" persona-00003 $((runs * 5)))
awk -v b="$p_big" -v s="$p_small" -v n="$n" 'BEGIN {
  printf "PATCH in %d personas    %7.2f ms  in 10        %7.2f ms  ratio        %5.2fx (target <= 2x)\n", n, b, s, b / s }'
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()

# 3. import of M agent files, one command, vs validate of the result.
mkdir -p "$work/agents"
python3 - "$work/agents" "$m" <<'PY'
import os, sys
out, m = sys.argv[1], int(sys.argv[2])
for i in range(m):
    with open(os.path.join(out, f"agent-{i:05}.md"), "w") as f:
        f.write(f"---\nname: Imported Agent {i}\ndescription: Reviews change number {i} carefully.\n---\n"
                f"You are a careful reviewer (number {i}). Read the change, then list the risks first.\n")
PY
# Each run imports into its own copy of the directory. `sync` first: an import ends with one
# flush of the filesystem (syncfs), which would otherwise also write out the corpus the
# script has just created, a cost that is not the import's.
for k in $(seq "$runs"); do cp -r "$work/big" "$work/imp-$k"; done
sync
t_import=$(for k in $(seq "$runs"); do
  t0=$(date +%s.%N)
  "$bin" --dir "$work/imp-$k" import "$work"/agents/*.md >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
done | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')
t_val2=$(median "$bin" --dir "$work/imp-1" validate)
awk -v t="$t_import" -v v="$t_val2" -v m="$m" 'BEGIN {
  printf "import %d files        %7.3f s   validate %7.3f s   import/validate %5.2fx (target <= 2x)\n", m, t, v, t / v }'
