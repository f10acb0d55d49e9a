# Sourced by the benchmark scripts (bash).
# median CMD…: the median wall time in seconds of CMD over $runs runs, after one warm-up run.
median() {
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
  done | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
