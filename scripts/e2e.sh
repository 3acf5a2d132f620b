#!/usr/bin/env bash
# Browser tests of the tenant portal (e2e/): a fresh stack from scripts/run.sh on free ports,
# with its own database (herald_e2e, dropped and recreated each run), NATS prefix and admin
# token, then Debian's headless Chromium driven by playwright-core under `node --test`.
# Screenshots of every page land in docs/portal/. The stack is always stopped (SIGTERM);
# any failure exits non-zero with the reason.
#
# HERALD_BIN_DIR runs binaries built elsewhere (else scripts/run.sh builds the debug ones).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

# Node 18 or later (Debian's nodejs is enough): node --test runs the tests, npm installs them.
command -v node >/dev/null || apt_install nodejs
command -v npm >/dev/null || apt_install npm
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "node $(node --version) is too old for the browser tests: 18 or later is needed"
command -v curl >/dev/null || apt_install curl
"$here/install-test-tools.sh" chromium
log "installing the browser-test packages (npm ci in e2e/)"
(cd "$root/e2e" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in e2e/ failed"

# Three free loopback ports: the API and the workers' health listeners.
read -r api_port dispatcher_port dlq_port < <(node -e '
const net = require("node:net");
const servers = [0, 1, 2].map(() => net.createServer());
Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", ok)))).then(() => {
  console.log(servers.map((s) => s.address().port).join(" "));
  servers.forEach((s) => s.close());
});')

suffix="$(date +%s)_$$"
base_url=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
export DATABASE_URL="${base_url%/*}/herald_e2e"
export HERALD_NATS_PREFIX="e2e_$suffix"
export HERALD_API_ADDR="127.0.0.1:$api_port"
export HERALD_DISPATCHER_HEALTH_ADDR="127.0.0.1:$dispatcher_port"
export HERALD_DLQ_HEALTH_ADDR="127.0.0.1:$dlq_port"
export HERALD_ADMIN_TOKEN="e2e-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export HERALD_ALLOW_PRIVATE_CIDRS=127.0.0.0/8
export HERALD_RETRY_SCHEDULE=200ms,200ms
export HERALD_LOG_FORMAT=json
unset HERALD_ADMIN_TOKEN_FILE HERALD_WORKERS
api="http://$HERALD_API_ADDR"
work=$(mktemp -d)

cleanup() {
  local status=$?
  if [ -n "${stack:-}" ]; then
    kill -TERM "$stack" 2>/dev/null || true
    wait "$stack" 2>/dev/null || true
  fi
  if [ "$status" != 0 ]; then
    [ -s "$work/stack.log" ] && { log "the stack's log ends:"; tail -n 40 "$work/stack.log" >&2; }
    printf '\033[1;31m[herald] portal browser tests FAILED (exit %s)\033[0m\n' "$status" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The stack's PostgreSQL and NATS first, then a clean database for this run.
"$here/ensure-services.sh"
command -v psql >/dev/null || apt_install postgresql-client
PGOPTIONS='-c client_min_messages=warning' psql "${base_url%/*}/postgres" -qc 'DROP DATABASE IF EXISTS herald_e2e WITH (FORCE)' \
  || die "could not drop the herald_e2e database"
psql "${base_url%/*}/postgres" -qc 'CREATE DATABASE herald_e2e' || die "could not create the herald_e2e database"

log "starting the stack on $api (log: scripts/e2e.sh prints it on failure)"
"$here/run.sh" >"$work/stack.log" 2>&1 &
stack=$!
stack_ready() {
  kill -0 "$stack" 2>/dev/null || die "the stack exited during start-up"
  curl -sf -o /dev/null "$api/readyz"
}
wait_for "the stack's /readyz" 600 stack_ready

log "running the portal's browser tests"
started=$SECONDS
(cd "$root/e2e" && HERALD_E2E_API="$api" HERALD_E2E_ADMIN_TOKEN="$HERALD_ADMIN_TOKEN" \
  node --test --test-reporter=spec tests/portal.test.js) || die "the portal's browser tests failed"
log "portal browser tests passed in $((SECONDS - started))s; screenshots in docs/portal/"
