#!/usr/bin/env bash
# The Python package (python/) tested from Python: pytest against the real built extension.
# Creates a venv (target/python-venv) with maturin, pytest, fastapi and httpx from PyPI,
# builds the extension in the dev profile into it (`maturin develop`: the workspace's target
# folder, so the crate and its dependencies compiled for `cargo test` are mostly reused), then
# runs python/tests. The PostgreSQL tests use PERSONACTL_TEST_PG_URL, which scripts/test.sh
# exports; run on its own, this script starts a throwaway server itself.
#
# usage: scripts/test.d/20-python.sh [PYTEST_ARGS…]
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PERSONACTL_TEST_PG_URL:-}" ]; then
  exec scripts/with-postgres.sh bash "$0" "$@"
fi

venv=${PERSONAS_PYTHON_VENV:-target/python-venv}
# Pinned: a new release of any of them cannot break the test run.
requirements=(maturin==1.16.0 pytest==9.2.0 fastapi==0.165.0 httpx==0.28.1)
if ! "$venv/bin/python" -m pip freeze 2>/dev/null | grep -qx "${requirements[0]}"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --quiet --bin personactl # the tests compare with the CLI's output
VIRTUAL_ENV=$PWD/$venv "$venv/bin/maturin" develop --quiet --manifest-path python/Cargo.toml
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
