#!/usr/bin/env bash
# Runs Herald locally in the foreground: ingest (the REST API), dispatcher and DLQ service.
# Ctrl-C or SIGTERM stops all three gracefully.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

"$here/ensure-services.sh"

if [ -z "${HERALD_ADMIN_TOKEN:-}" ] && [ -z "${HERALD_ADMIN_TOKEN_FILE:-}" ]; then
  HERALD_ADMIN_TOKEN="dev_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export HERALD_ADMIN_TOKEN
  log "no admin token given; this run's development token is:"
  printf '\n    HERALD_ADMIN_TOKEN=%s\n\n' "$HERALD_ADMIN_TOKEN"
fi

# HERALD_BIN_DIR runs binaries built elsewhere (e.g. the release ones scripts/bench.sh builds).
if [ -n "${HERALD_BIN_DIR:-}" ]; then
  bin=$HERALD_BIN_DIR
  for name in herald-ingest herald-dispatcher herald-dlq; do
    [ -x "$bin/$name" ] || die "HERALD_BIN_DIR has no $name"
  done
else
  log "building"
  (cd "$root" && cargo build --quiet --bins)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug"
fi

pids=()
stop() {
  trap - INT TERM
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  exit "$status"
}
trap stop INT TERM

api_addr=${HERALD_API_ADDR:-127.0.0.1:8080}
"$bin/herald-ingest" &
pids+=($!)
# Ingest creates and migrates the database first; the workers start once it answers.
wait_for "the API on $api_addr" 120 port_open "${api_addr%:*}" "${api_addr##*:}"
# HERALD_WORKERS picks the workers started beside ingest (default both); `make fuzz` runs
# without a dispatcher so that nothing it registers is ever delivered.
for worker in ${HERALD_WORKERS-dispatcher dlq}; do
  "$bin/herald-$worker" &
  pids+=($!)
done
log "API on http://$api_addr (docs at /docs); Ctrl-C stops"

# If any service exits on its own, stop the others and report it.
wait -n "${pids[@]}" || true
log "a service exited"
stop
