#!/usr/bin/env bash
# Fuzz smoke run: each cargo-fuzz target in fuzz/ (the file check, the import formats, the
# HTTP bodies) for a short, bounded time, seeded with the shipped personas and the import
# fixtures. Fails on any crash, panic, timeout or memory blow-up libFuzzer finds.
#
# Part of the test command whenever the nightly toolchain is installed (cargo-fuzz needs it;
# cargo-fuzz itself is installed when missing); skipped, saying so, only when nightly is
# absent. The smoke build is the quick one: coverage-guided but without AddressSanitizer and
# unoptimised (`--dev --sanitizer none`, no debug info: see fuzz/Cargo.toml), so that it fits
# in a CI run; panics, aborts, timeouts and the memory limit are still caught. The long runs,
# with AddressSanitizer on an optimised build: scripts/fuzz.sh.
#
# usage: scripts/test.d/60-fuzz-smoke.sh [SECONDS_PER_TARGET]        (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-${FUZZ_SMOKE_SECONDS:-10}}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz smoke: SKIPPED: no nightly toolchain (cargo-fuzz needs one: rustup toolchain install nightly)" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  cargo +nightly install cargo-fuzz --locked --quiet
fi

cd fuzz
flags=(--dev --sanitizer none)
# One instrumented build for all targets.
cargo +nightly fuzz build "${flags[@]}"
for target in check_text import http_body; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  case $target in
    check_text) seeds=(../personas) ;;
    import) seeds=(../tests/fixtures/interop) ;;
    http_body) seeds=() ;;
  esac
  echo "fuzz smoke: $target for ${secs}s" >&2
  cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$secs" -runs=5000000 -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1
done
