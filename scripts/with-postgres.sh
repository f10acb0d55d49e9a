#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server for the tests (PERSONACTL_TEST_PG_URL),
# installing PostgreSQL from Debian packages first when it is missing; stops it afterwards.
#
# usage: scripts/with-postgres.sh cargo test
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/ci-postgres.sh
source scripts/ci-postgres.sh
trap personactl_pg_stop EXIT
"$@"
