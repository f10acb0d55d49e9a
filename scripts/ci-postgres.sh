# shellcheck shell=bash
# Source this file: it makes sure PostgreSQL is installed (Debian packages, installed with
# apt-get when missing), starts a throwaway server on 127.0.0.1 and a free port in a temporary
# data directory (trust authentication, as the `postgres` system user when run as root), and
# exports PERSONACTL_TEST_PG_URL for the tests. `personactl_pg_stop` stops it and removes its
# folder; call it from an EXIT trap. Used by .ci/run and scripts/with-postgres.sh.
#
#   source scripts/ci-postgres.sh && trap personactl_pg_stop EXIT

personactl_pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

personactl_pg_run() { # as the postgres user when root: PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

personactl_pg_start() {
  local bin port
  bin=$(personactl_pg_bin) || true
  if [ -z "$bin" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL is not installed and this is not root: run 'sudo apt-get install postgresql'" >&2
      return 1
    fi
    echo "ci-postgres: installing PostgreSQL from Debian packages" >&2
    # Only the binaries are wanted: no cluster of the package's own on port 5432.
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(personactl_pg_bin) || { echo "ci-postgres: no initdb after installing" >&2; return 1; }
  fi
  PERSONACTL_PG_DIR=$(mktemp -d /tmp/personactl-ci-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PERSONACTL_PG_DIR"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  personactl_pg_run "$bin/initdb" -D "$PERSONACTL_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
    --locale=C --no-sync >"$PERSONACTL_PG_DIR/initdb.log" 2>&1 \
    || { cat "$PERSONACTL_PG_DIR/initdb.log" >&2; return 1; }
  personactl_pg_run "$bin/pg_ctl" -D "$PERSONACTL_PG_DIR/data" -l "$PERSONACTL_PG_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PERSONACTL_PG_DIR -c fsync=off -c max_connections=200" \
    start >/dev/null || { cat "$PERSONACTL_PG_DIR/log" >&2; return 1; }
  PERSONACTL_PG_CTL="$bin/pg_ctl"
  export PERSONACTL_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "ci-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $PERSONACTL_TEST_PG_URL" >&2
}

personactl_pg_stop() {
  [ -n "${PERSONACTL_PG_DIR:-}" ] || return 0
  if [ -f "$PERSONACTL_PG_DIR/data/postmaster.pid" ]; then
    personactl_pg_run "$PERSONACTL_PG_CTL" -D "$PERSONACTL_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PERSONACTL_PG_DIR"
  PERSONACTL_PG_DIR=
}

personactl_pg_start || {
  echo "ci-postgres: PostgreSQL could not be started; the PostgreSQL tests will fail" >&2
  return 1 2>/dev/null || exit 1
}
