#!/usr/bin/env bash
# Benchmark bulk `personactl import` (release build) of N generated Markdown agent files:
#   1. into an empty directory;
#   2. the same files again into the directory that now holds them (all `unchanged`);
#   3. N other files into that directory (N new personas beside N existing ones);
# beside `cat` of the same files (the read floor) and `cp -r` of them (the floor for creating
# as many files on this filesystem), measured in the same run. Prints medians of
# RUNS runs and the ratios; the issue's target: 1 and 2 each <= 5 s, 2 <= 1.5x 1.
#
# usage: [PERSONACTL_BIN=…] [BENCH_TMPDIR=…] scripts/bench-import.sh [N_FILES] [RUNS]
#        (defaults: 5000 files, 1 run; the binary built in release, the work folder in /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-5000}
runs=${2:-1}
work=$(mktemp -d -p "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}") # BENCH_TMPDIR=/dev/shm: without the disk
trap 'rm -rf "$work"' EXIT

[ -n "${PERSONACTL_BIN:-}" ] || cargo build --release --quiet
bin=${PERSONACTL_BIN:-$PWD/target/release/personactl}

python3 - "$work" "$n" <<'PY'
import os, sys
work, n = sys.argv[1], int(sys.argv[2])
for corpus in ("a", "b"):
    os.makedirs(f"{work}/{corpus}")
    for i in range(n):
        body = "\n".join(
            f"{j}. Check the {corpus}{i} module for problems of kind {j}: report file, line and fix."
            for j in range(12))
        with open(f"{work}/{corpus}/agent-{corpus}{i}.md", "w") as f:
            f.write(f"---\nname: agent-{corpus}{i}\n"
                    f"description: Reviews {corpus}{i} changes. Use when: the user asks for a review.\n"
                    f"tools: [Read, Grep,\n  Glob]\nmodel: sonnet\n---\n"
                    f"You are reviewer {corpus}{i}; literal ${{{{ secrets.TOKEN }}}} stays.\n\n{body}\n")
PY

# shellcheck source=scripts/timing.sh
source scripts/timing.sh
# Every run writes into a directory no run has used (all removed at the end): deleting the
# last run's 5,000 files right before creating 5,000 more sends ext4 without a journal (this
# machine's disk) through a slow path of its inode allocator (it avoids reusing inodes freed
# in the last seconds), which made a run 4x slower than the same import into a new folder.
fresh_dir() { mktemp -d -p "$work" run.XXXXXX; }
import_fresh() { "$bin" --dir "$(fresh_dir)" import "$work"/a/*.md; }
import_again() { "$bin" --dir "$work/p" import "$work"/a/*.md; }
import_others() { local q; q=$(fresh_dir); cp -r "$work/p/." "$q"; "$bin" --dir "$q" import "$work"/b/*.md; }
cat_all() { cat "$work"/a/*.md; }
cp_all() { cp -r "$work/a/." "$(fresh_dir)"; }
copy_only() { cp -r "$work/p/." "$(fresh_dir)"; }

printf 'corpus: %s agent files, %s runs each, %s cores\n' "$n" "$runs" "$(nproc)"
t_cat=$(median cat_all)
t_cp=$(median cp_all)
t_fresh=$(median import_fresh)
"$bin" --dir "$work/p" import "$work"/a/*.md >/dev/null 2>&1 || true
count=$(find "$work/p" -name '*.toml' | wc -l)
t_again=$(median import_again)
again_out=$("$bin" --dir "$work/p" import "$work"/a/*.md 2>/dev/null | grep -c '^unchanged' || true)
t_copy=$(median copy_only)
t_others=$(median import_others)
awk -v c="$t_cat" -v cp="$t_cp" -v f="$t_fresh" -v a="$t_again" -v o="$t_others" -v k="$t_copy" -v n="$n" 'BEGIN {
  printf "cat of the files            %6.3f s\n", c
  printf "cp -r of the files          %6.3f s\n", cp
  printf "1. import into empty dir    %6.3f s   (%.2fx cat, %.2fx cp -r)\n", f, f / c, f / cp
  printf "2. same files again         %6.3f s   (%.2fx run 1)\n", a, a / f
  printf "3. %d new beside %d        %6.3f s   (%.2fx run 1; includes a %.3f s copy of the dir)\n", n, n, o, o / f, k
}'
printf 'personas written: %s; unchanged on re-import: %s\n' "$count" "$again_out"
[ "$count" -eq "$n" ] && [ "$again_out" -eq "$n" ]
