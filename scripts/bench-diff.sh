#!/usr/bin/env bash
# Benchmark `personactl diff` and `log` on generated git repositories (release build):
#  1. a repository with an N-persona corpus committed (500 of them extending one base), and a
#     second commit that edits 100 personas and the base: `diff HEAD~1 HEAD` beside `validate`
#     of one tree (the work tree) in the same run (target: at most 3x);
#  2. `log ID` over a 1,000-commit history of a 100-persona directory (target: at most 1 s).
# Prints medians of RUNS runs. The repositories are packed, as a clone is.
#
# usage: scripts/bench-diff.sh [N_FILES] [RUNS]      (defaults: 10000 files, 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
runs=${2:-5}
gen=${GEN_CORPUS:-scripts/gen_corpus.py}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0   # no background gc
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z

cargo build --release --quiet
bin=$PWD/target/release/personactl

# --- 1. diff of two commits of an N-persona corpus --------------------------------------
repo=$work/corpus
mkdir -p "$repo"
git -C "$repo" init -q -b main
# The corpus generator (one line: swap it for another that writes N persona files into a folder).
python3 "$gen" "$repo/personas" "$n" --schema-header ../schema/persona.schema.json >/dev/null
python3 - "$repo/personas" <<'PY'
# Personas 0..499 extend one base (their prompts start with the base's).
import os, sys
root = sys.argv[1]
names = sorted(n for n in os.listdir(root) if n.endswith(".toml"))
with open(os.path.join(root, "bench-base.toml"), "w") as f:
    f.write('name = "Bench base"\ndescription = "Shared rules."\nicon = "🧩"\nhidden = true\n'
            'system_prompt = """\nShared rules: be brief.\n"""\n')
for name in names[:500]:
    p = os.path.join(root, name)
    text = open(p, encoding="utf-8").read()
    header, rest = text.split("\n", 1)
    rest = rest.replace('system_prompt = """\n', 'system_prompt = """\n{{parent}}\n', 1)
    open(p, "w", encoding="utf-8").write(f'{header}\nextends = "bench-base"\n{rest}')
PY
git -C "$repo" add -A && git -C "$repo" commit -qm corpus
python3 - "$repo/personas" <<'PY'
# The second commit: the base and 100 other personas edited.
import os, sys
root = sys.argv[1]
names = sorted(n for n in os.listdir(root) if n.endswith(".toml") and n != "bench-base.toml")
p = os.path.join(root, "bench-base.toml")
text = open(p, encoding="utf-8").read()
open(p, "w", encoding="utf-8").write(text.replace("be brief.", "be brief and kind."))
for name in names[1000:1100]:
    p = os.path.join(root, name)
    text = open(p, encoding="utf-8").read()
    open(p, "w", encoding="utf-8").write(text.replace('system_prompt = """\n', 'system_prompt = """\nEdited.\n', 1))
PY
git -C "$repo" add -A && git -C "$repo" commit -qm edits
git -C "$repo" repack -adq

(cd "$repo" && "$bin" validate personas >/dev/null) || true   # exit 1: no default persona in a corpus
summary=$(cd "$repo" && "$bin" diff HEAD~1 HEAD --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"])')
echo "diff summary: $summary"

# shellcheck source=scripts/timing.sh
source scripts/timing.sh
in_repo() { (cd "$1" && shift && "$@"); }

printf 'corpus: %s files (+1 base of 500 children), %s runs each, %s cores\n' "$n" "$runs" "$(nproc)"
t_val=$(median in_repo "$repo" "$bin" validate personas)
t_diff=$(median in_repo "$repo" "$bin" diff HEAD~1 HEAD --format json)
t_wt=$(median in_repo "$repo" "$bin" diff --format json)

# --- 2. log over 1,000 commits of a 100-persona directory --------------------------------
hist=$work/history
mkdir -p "$hist"
git -C "$hist" init -q -b main
python3 - <<'PY' | git -C "$hist" fast-import --quiet
# 1,000 commits: each edits one of 100 personas (0..9 extend a base); every 50th edits the base.
import sys
def persona(i, edits):
    head = 'extends = "base"\n' if i < 10 else ''
    parent = "{{parent}}\n" if i < 10 else ""
    extra = "".join(f"Note {e}.\n" for e in edits)
    return (f'{head}name = "Persona {i}"\ndescription = "Persona number {i}."\nicon = "🧭"\n'
            f'system_prompt = """\n{parent}You are persona {i}.\n{extra}"""\n')
def base(k):
    return f'name = "Base"\ndescription = "Shared."\nicon = "🧩"\nhidden = true\nsystem_prompt = "Rules v{k}."\n'
def blob(path, text):
    data = text.encode()
    return f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
out = sys.stdout.buffer
edits = {i: [] for i in range(100)}
base_v = 0
for c in range(1000):
    t = 1704067200 + c * 3600
    msg = f"commit {c}".encode()
    out.write(f"commit refs/heads/main\ncommitter Bench <bench@example.com> {t} +0000\ndata {len(msg)}\n".encode() + msg + b"\n")
    if c == 0:
        out.write(blob("personas/base.toml", base(0)))
        for i in range(100):
            out.write(blob(f"personas/persona-{i:03d}.toml", persona(i, [])))
    elif c % 50 == 0:
        base_v += 1
        out.write(blob("personas/base.toml", base(base_v)))
    else:
        i = c % 100
        edits[i].append(c)
        out.write(blob(f"personas/persona-{i:03d}.toml", persona(i, edits[i])))
    out.write(b"\n")
PY
git -C "$hist" reset -q --hard main
git -C "$hist" repack -adq
entries=$(cd "$hist" && "$bin" log persona-005 --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["commits"]))')
t_log=$(median in_repo "$hist" "$bin" log persona-005 --format json)
t_log_plain=$(median in_repo "$hist" "$bin" log persona-050 --format json)

awk -v v="$t_val" -v d="$t_diff" -v w="$t_wt" -v l="$t_log" -v p="$t_log_plain" -v e="$entries" 'BEGIN {
  printf "validate personas (one tree)        %6.3f s\n", v
  printf "diff HEAD~1 HEAD                    %6.3f s   diff/validate %5.2fx (target <= 3x)\n", d, d / v
  printf "diff (HEAD vs the work tree)        %6.3f s   diff/validate %5.2fx\n", w, w / v
  printf "log persona-005 (1,000 commits)     %6.3f s   %d commits listed (target <= 1 s)\n", l, e
  printf "log persona-050 (no parent)         %6.3f s\n", p
  exit (d / v <= 3 && l <= 1) ? 0 : 1 }'
