#!/usr/bin/env bash
# What the guard of a link at a stored revision costs on PostgreSQL, by the form of the
# statement, measured with pgbench (prepared statements, one fresh database): the upsert a
# plain link is (`INSERT … VALUES`), the form the store uses (`INSERT … SELECT … WHERE EXISTS`,
# see LINK_KNOWN in src/sessions/postgres/mod.rs), `INSERT … SELECT` without the guard, and the
# guard as a scalar subquery in `VALUES`. Each form runs SECONDS, in turn, ROUNDS times, with 1
# and 4 clients, with commits waited for and not (`synchronous_commit`). Prints links/s.
#
# usage: scripts/with-postgres.sh scripts/bench-pg-statements.sh [SECONDS] [ROUNDS]
#    or: PERSONACTL_TEST_PG_URL=postgres://… scripts/bench-pg-statements.sh [SECONDS] [ROUNDS]
# The tests' throwaway server (scripts/with-postgres.sh) runs with fsync off, so its commits
# never wait on the disk; for durable commits give a server with fsync on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-6}
rounds=${2:-2}
url=${PERSONACTL_TEST_PG_URL:?run this under scripts/with-postgres.sh (or set PERSONACTL_TEST_PG_URL)}
bin=$(dirname "$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -1)")
db="bench_statements_$$"
work=$(mktemp -d)
"$bin/psql" -q "$url" -c "CREATE DATABASE $db"
trap '"$bin/psql" -q "$url" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
dburl="${url%/*}/$db"
for m in migrations/0001_create_sessions.sql migrations/0002_create_revisions.sql; do
  "$bin/psql" -q "$dburl" -f "$m"
done
rev=abcdef0123456789
"$bin/psql" -q "$dburl" -c "INSERT INTO personactl_revisions (revision, persona) VALUES ('$rev', '{}')"

upsert="ON CONFLICT (session) DO UPDATE SET persona = EXCLUDED.persona, revision = EXCLUDED.revision, linked_at = EXCLUDED.linked_at"
insert="INSERT INTO personactl_sessions (session, persona, revision, linked_at)"
declare -A forms=(
  [values]="$insert VALUES ('s' || :i, :persona, :rev, to_timestamp(1795622400)) $upsert;"
  [select-exists]="$insert SELECT 's' || :i, :persona, :rev, to_timestamp(1795622400) WHERE EXISTS (SELECT 1 FROM personactl_revisions WHERE revision = :rev) $upsert;"
  [select]="$insert SELECT 's' || :i, :persona, :rev, to_timestamp(1795622400) $upsert;"
  [values-subquery]="$insert VALUES ('s' || :i, :persona, (SELECT revision FROM personactl_revisions WHERE revision = :rev), to_timestamp(1795622400)) $upsert;"
)
order=(values select-exists select values-subquery)
for f in "${order[@]}"; do
  printf '\\set i random(1, 2000000000)\n%s\n' "${forms[$f]}" >"$work/$f.sql"
done

printf '%-6s %-8s %-6s' commit clients round
printf ' %16s' "${order[@]}"
echo
for sync in on off; do
  for clients in 1 4; do
    for round in $(seq "$rounds"); do
      printf '%-6s %-8s %-6s' "$sync" "$clients" "$round"
      for f in "${order[@]}"; do
        tps=$(PGOPTIONS="-c synchronous_commit=$sync" "$bin/pgbench" -n -M prepared \
          -c "$clients" -j "$clients" -T "$seconds" -D rev=$rev -D persona=coach \
          -f "$work/$f.sql" "$dburl" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
        printf ' %16.0f' "$tps"
      done
      echo
    done
  done
done
