#!/usr/bin/env bash
# Long fuzzing sessions over the cargo-fuzz targets in fuzz/ (nightly toolchain and cargo-fuzz
# needed: `rustup toolchain install nightly`, `cargo install cargo-fuzz --locked`).
#
#   check_text  any bytes as a persona file: the check of one file, then families
#   import      Character Card V2 JSON/PNG and Markdown agent files
#   http_body   JSON bodies: a new file (POST/PUT) and a merge patch (PATCH) through the store
#
# The corpus grows in fuzz/corpus/TARGET (not committed); a crash is saved in
# fuzz/artifacts/TARGET/ and can be replayed with `cargo +nightly fuzz run TARGET FILE`.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]     (default: 600 s, every target)
#        FUZZ_JOBS=N runs N processes per target (default 1).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(check_text import http_body)
jobs=${FUZZ_JOBS:-1}

cargo +nightly fuzz build
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  case $target in
    check_text) seeds=(../personas) ;;
    import) seeds=(../tests/fixtures/interop) ;;
    *) seeds=() ;;
  esac
  echo "== $target: ${secs}s, $jobs job(s)" >&2
  cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
    -jobs="$jobs" -workers="$jobs" -print_final_stats=1
done
