#!/usr/bin/env bash
# Property-based API tests: schemathesis (from PyPI, installed into a venv here) against the
# real `personactl serve` and its own OpenAPI document. Bounded: a fixed seed and a fixed
# number of examples per operation. Fails on any 5xx or any response that violates the document.
#
# usage: scripts/test.d/50-schemathesis.sh [MAX_EXAMPLES]        (default 25)
set -euo pipefail
cd "$(dirname "$0")/../.."

examples=${1:-25}
version=4.32.5
venv=${SCHEMATHESIS_VENV:-target/schemathesis-venv}

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build --quiet
work=$(mktemp -d)
# shellcheck source=scripts/start-server.sh
source scripts/start-server.sh
start_server target/debug/personactl "$work"

"$venv/bin/schemathesis" run "$url/api/openapi.json" \
  --max-examples "$examples" --seed 1 --no-color --generation-database none \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
