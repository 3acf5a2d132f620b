#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis against a fresh `scripts/run.sh` on free ports, with
# its own database, NATS prefix and admin token: every operation of /openapi.json, a bounded
# number of generated requests each, a fixed seed. Any 5xx, or any response the spec does not
# declare (status, content type, body schema), fails the run. The stack is torn down after.
#
# Traffic stays on loopback: schemathesis talks only to the stack, and the stack runs no
# dispatcher (HERALD_WORKERS=dlq), so no webhook it registers is ever delivered. Webhook URLs
# are also limited to HERALD_ALLOWED_PORTS, the port of a loopback sink: a generated URL on
# any other port is refused at registration, before any DNS lookup. Failed authentications
# are not throttled (HERALD_AUTH_FAILURE_LIMIT=0): schemathesis sends many on purpose.
#
# HERALD_FUZZ_EXAMPLES (default 50) and HERALD_FUZZ_SEED (default 1042) tune the run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

examples=${HERALD_FUZZ_EXAMPLES:-50}
seed=${HERALD_FUZZ_SEED:-1042}

command -v jq >/dev/null || apt_install jq
command -v curl >/dev/null || apt_install curl
"$here/install-test-tools.sh" schemathesis
schemathesis="$root/.tools/schemathesis/bin/schemathesis"
python="$root/.tools/schemathesis/bin/python"

# Four free loopback ports: the API, two health listeners, the sink.
read -r api_port dispatcher_port dlq_port sink_port < <("$python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

suffix="$(date +%s)_$$"
base_url=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
export DATABASE_URL="${base_url%/*}/herald_fuzz_$suffix"
export HERALD_NATS_PREFIX="fuzz_$suffix"
export HERALD_API_ADDR="127.0.0.1:$api_port"
export HERALD_DISPATCHER_HEALTH_ADDR="127.0.0.1:$dispatcher_port"
export HERALD_DLQ_HEALTH_ADDR="127.0.0.1:$dlq_port"
export HERALD_ADMIN_TOKEN="fuzz-admin-$suffix"
export HERALD_ALLOW_PRIVATE_CIDRS=127.0.0.0/8
export HERALD_ALLOWED_PORTS=$sink_port
export HERALD_WORKERS=dlq
export HERALD_AUTH_FAILURE_LIMIT=0
export HERALD_LOG_FORMAT=json
api="http://$HERALD_API_ADDR"
work=$(mktemp -d)

cleanup() {
  local status=$?
  [ "$status" = 0 ] || [ ! -s "$work/stack.log" ] || { log "the stack's log ends:"; tail -n 30 "$work/stack.log" >&2; }
  [ -n "${stack:-}" ] && kill -TERM "$stack" 2>/dev/null && wait "$stack" 2>/dev/null || true
  [ -n "${sink:-}" ] && kill -TERM "$sink" 2>/dev/null || true
  psql "${base_url%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"${DATABASE_URL##*/}\" WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

# A loopback receiver on the one allowed port, so the seeded webhook points at something real.
"$python" - "$sink_port" >/dev/null 2>&1 <<'EOF' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
EOF
sink=$!

log "starting the stack on $api"
"$here/run.sh" >"$work/stack.log" 2>&1 &
stack=$!
wait_for "the stack's readyz" 300 curl -sf -o /dev/null "$api/readyz"

# What a meaningful run needs: a tenant and its key, an event type, a webhook on loopback.
json='Content-Type: application/json'
key=$(curl -sf -X POST "$api/admin/tenants" -H "Authorization: Bearer $HERALD_ADMIN_TOKEN" \
  -H "$json" -d '{"name": "fuzz"}' | jq -r .api_key)
[ -n "$key" ] && [ "$key" != null ] || die "could not create the fuzz tenant"
curl -sf -o /dev/null -X POST "$api/event-types" -H "Authorization: Bearer $key" -H "$json" \
  -d '{"name": "order.created", "description": "An order was placed"}'
curl -sf -o /dev/null -X POST "$api/webhooks" -H "Authorization: Bearer $key" -H "$json" \
  -d "{\"url\": \"http://127.0.0.1:$sink_port/hook\", \"event_types\": [\"order.created\"]}"
curl -sf -o /dev/null -X POST "$api/events" -H "Authorization: Bearer $key" -H "$json" \
  -d '{"type": "order.created", "payload": {"order_id": "ord_1"}}'

checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
# fuzz TOKEN FILTER...: one schemathesis run over the operations FILTER selects. It runs in
# the scratch directory, so that no failure cache of an earlier run changes what it sends.
fuzz() {
  local token=$1
  shift
  (cd "$work" && "$schemathesis" run "$api/openapi.json" "$@" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 10 \
    --no-color)
}

# Tenant operations with the tenant's key, then the admin's with the admin token (last, so
# that what they do to tenants cannot disturb the tenant run).
status=0
log "fuzzing the tenant operations ($examples examples each, seed $seed)"
fuzz "$key" --exclude-tag Admin || status=1
log "fuzzing the admin operations"
fuzz "$HERALD_ADMIN_TOKEN" --include-tag Admin || status=1

if grep -q '"level":"ERROR"' "$work/stack.log"; then
  grep '"level":"ERROR"' "$work/stack.log" | head -20 >&2
  status=1
  log "the stack logged errors during the run"
fi
[ "$status" = 0 ] || die "schemathesis found problems (see above)"
log "fuzzing found nothing: no 5xx, every response as the spec declares"
