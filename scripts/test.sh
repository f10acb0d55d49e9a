#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it: a throwaway PostgreSQL
# server (installed from Debian's packages when missing, see scripts/ci-postgres.sh), then
# `cargo test`, then every extra suite in scripts/test.d/ in name order (each is a bash script
# that installs what it needs from the package registries and fails loudly: nothing is skipped
# silently).
#
# usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/ci-postgres.sh
source scripts/ci-postgres.sh
trap personactl_pg_stop EXIT

cargo test
for suite in scripts/test.d/*.sh; do
  [ -e "$suite" ] || continue
  echo "== $suite" >&2
  bash "$suite"
done
