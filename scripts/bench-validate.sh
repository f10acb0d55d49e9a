#!/usr/bin/env bash
# Benchmark `personactl validate` on generated corpora, beside `cat` of the same files (the
# I/O floor) measured in the same run. Prints medians of RUNS runs, the ratio, peak memory, and
# checks the 5%-invalid corpus: every defective file reported, at most 2 diagnostics per file.
#
# usage: scripts/bench-validate.sh [N_FILES] [RUNS]      (defaults: 10000 files, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-7}
gen=${GEN_CORPUS:-scripts/gen_corpus.py}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin=target/release/personactl

python3 "$gen" "$work/valid" "$n" --schema-header ../schema/persona.schema.json >/dev/null
python3 "$gen" "$work/invalid" "$n" --invalid-ratio 0.05 > "$work/invalid.summary"

# shellcheck source=scripts/timing.sh
source scripts/timing.sh
cat_all() { find "$1" -name '*.toml' -print0 | xargs -0 cat; }
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

printf 'corpus: %s files, %s runs each, %s cores\n' "$n" "$runs" "$(nproc)"
for corpus in valid invalid; do
  dir="$work/$corpus"
  t_cat=$(median cat_all "$dir")
  t_val=$(median "$bin" validate "$dir")
  mem=$(peak_kb "$bin" validate "$dir" || true)
  awk -v c="$corpus" -v v="$t_val" -v k="$t_cat" -v m="$mem" 'BEGIN {
    printf "%-8s validate %6.3f s   cat %6.3f s   validate/cat %5.2fx   peak RSS %6.1f MB\n", c, v, k, v / k, m / 1024 }'
done

"$bin" validate "$work/invalid" --format json > "$work/invalid.json" || true
python3 - "$work/invalid.json" "$work/invalid.summary" <<'PY'
import json, re, sys, collections
report = json.load(open(sys.argv[1]))
summary = open(sys.argv[2]).read()
defects = sum(int(n) for n in re.findall(r"'[a-z-]+': (\d+)", summary))
per_file = collections.Counter(d["path"] for d in report["diagnostics"])
print(f"invalid  defective files {defects}, files reported {len(per_file)}, "
      f"max diagnostics per file {max(per_file.values())}, codes {dict(collections.Counter(d['code'] for d in report['diagnostics']))}")
ok = len(per_file) == defects and max(per_file.values()) <= 2
print("invalid  every defect reported, no cascades:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
PY
