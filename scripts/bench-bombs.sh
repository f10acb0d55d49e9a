#!/usr/bin/env bash
# Benchmark `personactl validate` on 1 MiB "bombs" (one file: {{x}} repeated; unknown keys;
# {{x}} under `extends`) beside a 1 MiB file of plain prompt text (the baseline: the same
# size with nothing to report), measured in the same run. Prints medians of RUNS runs, the
# ratio to the baseline, peak memory and the report size: linear checks keep the ratio small.
#
# usage: scripts/bench-bombs.sh [RUNS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin=target/release/personactl

python3 - "$work" <<'PY'
import os, sys
w = sys.argv[1]
head = 'schema_version = 1\nname = "B"\ndescription = "d"\nicon = "i"\n'
mib = 1024 * 1024
def put(name, text, extra=None):
    os.makedirs(f"{w}/{name}")
    open(f"{w}/{name}/bomb.toml", "w").write(text)
    if extra:
        open(f"{w}/{name}/base.toml", "w").write(extra)
body = lambda unit: (unit * (mib // len(unit)))[: mib - 200]
put("baseline", head + 'system_prompt = """' + body("plain text ") + '"""\n')
put("placeholders", head + 'system_prompt = """' + body("{{x}}") + '"""\n')
keys = "".join(f"unknown_{i} = 1\n" for i in range(mib // 14))[: mib - 200]
put("unknown-keys", head + 'system_prompt = "p"\n' + keys[: keys.rfind("\n") + 1])
put("extends", 'extends = "base"\nsystem_prompt = """' + "".join(f"{{{{v{i}}}}}" for i in range(mib // 9))[: mib - 200].rsplit("{{", 1)[0] + '"""\n',
    head + 'system_prompt = "p"\n')
PY

# shellcheck source=scripts/timing.sh
source scripts/timing.sh
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

base=$(median "$bin" validate --default-persona base "$work/baseline")
printf 'validate of one 1 MiB file, median of %s runs\n' "$runs"
for corpus in baseline placeholders unknown-keys extends; do
  dir="$work/$corpus"
  t=$(median "$bin" validate --default-persona base "$dir")
  mem=$(peak_kb "$bin" validate --default-persona base "$dir" || true)
  size=$("$bin" validate --default-persona base "$dir" | wc -c || true)
  awk -v c="$corpus" -v t="$t" -v b="$base" -v m="$mem" -v s="$size" 'BEGIN {
    printf "%-13s %7.3f s   %6.2fx baseline   peak RSS %6.1f MB   report %6.1f KB\n", c, t, t / b, m / 1024, s / 1024 }'
done
