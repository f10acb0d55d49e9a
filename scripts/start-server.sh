# Sourced by the scripts that need a running `personactl serve` (bash).
# start_server BIN WORKDIR: writes the default personas into WORKDIR/personas, starts the
# server on a free loopback port, sets $server (its pid) and $url, and stops it on exit.
start_server() {
  local bin=$1 work=$2
  "$bin" init "$work/personas" >/dev/null
  "$bin" --dir "$work/personas" --sessions "$work/sessions.jsonl" \
    serve --addr 127.0.0.1:0 >"$work/out" 2>"$work/log" &
  server=$!
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "'"$work"'"' EXIT
  for _ in $(seq 100); do
    grep -q '^listening on ' "$work/out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' "$work/out")
  [ -n "$url" ] || { echo "the server did not start:" >&2; cat "$work/log" >&2; return 1; }
}
