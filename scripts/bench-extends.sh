#!/usr/bin/env bash
# Benchmark `personactl validate` with inheritance: N personas that each extend one of 100
# hidden bases (inheriting `description` and `icon`, using `{{parent}}` and a variable only a
# base declares), beside the flat N-file corpus they were made from, in the same run.
# Prints medians of RUNS runs and the ratio (target: at most 1.5x).
#
# usage: scripts/bench-extends.sh [N_FILES] [RUNS]      (defaults: 10000 files, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
gen=${GEN_CORPUS:-scripts/gen_corpus.py}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin=target/release/personactl

python3 "$gen" "$work/flat" "$n" --schema-header ../schema/persona.schema.json >/dev/null
# The same seed gives the same personas: the extends corpus is the flat one, each file
# extending one of 100 bases.
python3 "$gen" "$work/extends" "$n" --extends-bases 100 --schema-header ../schema/persona.schema.json >/dev/null

"$bin" validate "$work/flat" >/dev/null
"$bin" validate "$work/extends" >/dev/null || { "$bin" validate "$work/extends" | tail -20; exit 1; }

# shellcheck source=scripts/timing.sh
source scripts/timing.sh

printf 'corpus: %s files (+100 bases), %s runs each, %s cores\n' "$n" "$runs" "$(nproc)"
t_flat=$(median "$bin" validate "$work/flat")
t_ext=$(median "$bin" validate "$work/extends")
t_render=$(median "$bin" --dir "$work/extends" render --all --out "$work/snap")
awk -v f="$t_flat" -v e="$t_ext" -v r="$t_render" 'BEGIN {
  printf "flat     validate %6.3f s\n", f
  printf "extends  validate %6.3f s   extends/flat %5.2fx (target <= 1.5x)\n", e, e / f
  printf "extends  render --all --out %6.3f s\n", r
  exit (e / f <= 1.5) ? 0 : 1 }'
