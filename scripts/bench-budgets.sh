#!/usr/bin/env bash
# Benchmark the token budget check: `personactl validate` of a generated corpus with a
# `[model] max_prompt_tokens` on every persona, beside the same corpus without budgets, in the
# same run (medians of RUNS runs, peak memory); then the tokenizer's raw throughput on the
# corpus's prompts (benches/tokens.rs: MB/s on one thread, bpe-openai beside tiktoken-rs).
#
# Each budget is the prompt's length in bytes minus one: every prompt fits (these prompts are
# far fewer tokens than bytes), and none can skip counting (a prompt of at most `budget` bytes
# fits without being counted).
#
# usage: scripts/bench-budgets.sh [N_FILES] [RUNS]      (defaults: 10000 files, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The corpus: one line, to swap for another generator (OUTDIR N).
gen_corpus() { python3 "${GEN_CORPUS:-../shared/bench/gen_corpus.py}" "$1" "$2" >/dev/null; }

cargo build --release --quiet
bin=target/release/personactl

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

# shellcheck source=scripts/timing.sh
source scripts/timing.sh
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

printf 'corpus: %s files, %s runs each, %s cores\n' "$n" "$runs" "$(nproc)"
t_plain=$(median "$bin" validate "$work/plain")
t_budget=$(median "$bin" validate "$work/budgets")
m_plain=$(peak_kb "$bin" validate "$work/plain" || true)
m_budget=$(peak_kb "$bin" validate "$work/budgets" || true)
awk -v p="$t_plain" -v b="$t_budget" -v mp="$m_plain" -v mb="$m_budget" 'BEGIN {
  printf "validate without budgets %6.3f s (peak RSS %5.1f MB)\n", p, mp / 1024
  printf "validate with budgets    %6.3f s (peak RSS %5.1f MB)   with/without %4.2fx\n", b, mb / 1024, b / p }'

cargo bench --quiet --bench tokens -- "$work/plain"
