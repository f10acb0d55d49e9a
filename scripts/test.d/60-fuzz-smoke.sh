#!/usr/bin/env bash
# Fuzz smoke run: each cargo-fuzz target in fuzz/ (the file check, the import formats, the
# HTTP bodies) for a short, bounded time, seeded with the shipped personas and the import
# fixtures. Fails on any crash, panic, timeout or memory blow-up libFuzzer finds.
#
# Opt-in (PERSONACTL_FUZZ_SMOKE=1): the instrumented nightly build of every dependency takes
# longer than the rest of the suite on a 2-core machine, so the test command skips it unless
# asked, and says so. It also needs the nightly toolchain (cargo-fuzz builds with sanitizers);
# cargo-fuzz itself is installed when missing. Long runs: scripts/fuzz.sh.
#
# usage: scripts/test.d/60-fuzz-smoke.sh [SECONDS_PER_TARGET]        (default 20)
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-${FUZZ_SMOKE_SECONDS:-20}}

if [ "${PERSONACTL_FUZZ_SMOKE:-0}" != 1 ]; then
  echo "fuzz smoke: SKIPPED (opt-in: PERSONACTL_FUZZ_SMOKE=1 scripts/test.d/60-fuzz-smoke.sh; long runs: scripts/fuzz.sh)" >&2
  exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz smoke: SKIPPED: no nightly toolchain (cargo-fuzz needs one; rustup toolchain install nightly)" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  cargo install cargo-fuzz --locked --quiet
fi

cd fuzz
# One instrumented build for all targets (release with debug assertions, as cargo fuzz does).
cargo +nightly fuzz build
for target in check_text import http_body; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  case $target in
    check_text) seeds=(../personas) ;;
    import) seeds=(../tests/fixtures/interop) ;;
    http_body) seeds=() ;;
  esac
  echo "fuzz smoke: $target for ${secs}s" >&2
  cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$secs" -runs=5000000 -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1
done
