#!/usr/bin/env bash
# Benchmark the token budget check: `personactl validate` of a generated corpus with a
# `[model] max_prompt_tokens` on every persona, beside the same corpus without budgets, in the
# same run (RUNS pairs, interleaved; peak memory); then the tokenizer's raw throughput on the
# corpus's prompts (benches/tokens.rs: MB/s on one thread, bpe-openai beside tiktoken-rs).
#
# Each budget is the prompt's length in bytes minus one: every prompt fits (these prompts are
# far fewer tokens than bytes), and none can skip counting (a prompt of at most `budget` bytes
# fits without being counted).
#
# usage: scripts/bench-budgets.sh [N_FILES] [RUNS]      (defaults: 10000 files, 7 pairs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The corpus: one line, to swap for another generator (OUTDIR N).
gen_corpus() { python3 "${GEN_CORPUS:-scripts/gen_corpus.py}" "$1" "$2" >/dev/null; }

if [[ -z "${PERSONACTL_BIN:-}" ]]; then cargo build --release --quiet; fi
bin=${PERSONACTL_BIN:-target/release/personactl}

gen_corpus "$work/plain" "$n"
cp -r "$work/plain" "$work/budgets"
python3 - "$work/budgets" <<'PY'
import pathlib, sys, tomllib
for path in pathlib.Path(sys.argv[1]).rglob("*.toml"):
    text = path.read_text(encoding="utf-8")
    budget = len(tomllib.loads(text)["system_prompt"].encode()) - 1
    if "\n[model]\n" in text:
        text = text.replace("\n[model]\n", f"\n[model]\nmax_prompt_tokens = {budget}\n", 1)
    else:
        text += f"\n[model]\nmax_prompt_tokens = {budget}\n"
    path.write_text(text, encoding="utf-8")
PY

"$bin" validate "$work/plain" >/dev/null
"$bin" validate "$work/budgets" >/dev/null || { echo "the budget corpus must be valid" >&2; exit 1; }

peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}

# The pair interleaved (plain, budgets, then budgets, plain, …), so that load from other work
# on the machine falls on both alike; the ratio is the median of the per-pair ratios.
printf 'corpus: %s files, %s interleaved pairs, %s cores\n' "$n" "$runs" "$(nproc)"
wall "$bin" validate "$work/plain" >/dev/null
wall "$bin" validate "$work/budgets" >/dev/null
pairs=$(for i in $(seq "$runs"); do
  if (( i % 2 )); then
    p=$(wall "$bin" validate "$work/plain"); b=$(wall "$bin" validate "$work/budgets")
  else
    b=$(wall "$bin" validate "$work/budgets"); p=$(wall "$bin" validate "$work/plain")
  fi
  echo "$p $b"
done)
m_plain=$(peak_kb "$bin" validate "$work/plain" || true)
m_budget=$(peak_kb "$bin" validate "$work/budgets" || true)
echo "$pairs" | awk -v mp="$m_plain" -v mb="$m_budget" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return a[int((n + 1) / 2)]
  }
  { p[NR] = $1; b[NR] = $2; r[NR] = $2 / $1 }
  END {
    n = NR
    printf "validate without budgets %6.3f s median (peak RSS %5.1f MB)\n", median(p, n), mp / 1024
    printf "validate with budgets    %6.3f s median (peak RSS %5.1f MB)\n", median(b, n), mb / 1024
    printf "with/without, median of %d interleaved pairs: %4.2fx\n", n, median(r, n)
  }'

cargo bench --quiet --bench tokens -- "$work/plain"
