#!/usr/bin/env bash
# Benchmark the Python package (release build) on a generated corpus: lookups beside
# `dict.get`, `Registry(dir)` load beside `personactl validate` of the same folder, measured
# in the same run (python/bench/bench.py prints the table).
#
# usage: scripts/bench-python.sh [N_FILES] [RUNS]      (defaults: 10000 files, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
venv=${PERSONAS_BENCH_VENV:-target/python-bench-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The corpus (one line: swap the generator here).
python3 "${GEN_CORPUS:-scripts/gen_corpus.py}" "$work/personas" "$n" >/dev/null

cargo build --release --quiet --bin personactl
if [ ! -x "$venv/bin/maturin" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check maturin==1.16.0
fi
# A wheel installed into the bench venv (not `develop`, which would replace the test build).
"$venv/bin/maturin" build --release --quiet --manifest-path python/Cargo.toml -o "$work/wheels"
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall "$work"/wheels/*.whl
"$venv/bin/python" python/bench/bench.py "$work/personas" target/release/personactl "$runs"
