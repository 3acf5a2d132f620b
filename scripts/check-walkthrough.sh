#!/usr/bin/env bash
# Runs the README's walk-through, exactly as printed, against a fresh `scripts/run.sh` on a
# free port with its own database and NATS prefix, then stops the stack with SIGTERM and
# checks that it shut down cleanly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

suffix="$(date +%s)_$$"
base_url=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
export DATABASE_URL="${base_url%/*}/herald_walkthrough_$suffix"
export HERALD_NATS_PREFIX="walkthrough_$suffix"
export HERALD_API_ADDR=127.0.0.1:18080
export HERALD_DISPATCHER_HEALTH_ADDR=127.0.0.1:18081
export HERALD_DLQ_HEALTH_ADDR=127.0.0.1:18082
export HERALD_ADMIN_TOKEN="walkthrough-$suffix"
log_file=$(mktemp)

cleanup() {
  [ -n "${stack:-}" ] && kill -TERM "$stack" 2>/dev/null || true
  psql "${base_url%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"${DATABASE_URL##*/}\" WITH (FORCE)" || true
  rm -f "$log_file"
}
trap cleanup EXIT

"$here/run.sh" >"$log_file" 2>&1 &
stack=$!
wait_for "the stack's readyz" 300 curl -sf -o /dev/null "http://$HERALD_API_ADDR/readyz"

# The README's block, between its walk-through markers.
block=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' "$root/README.md" |
  sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
[ -n "$block" ] || die "README.md has no walk-through block"
output=$(API="http://$HERALD_API_ADDR" ADMIN="$HERALD_ADMIN_TOKEN" bash -euo pipefail -c "$block
echo \"EVENT=\$EVENT\"
echo \"KEY=\$KEY\"")
event=$(printf '%s\n' "$output" | sed -n 's/^EVENT=//p')
[ -n "$event" ] || die "the walk-through printed no event id"
# The event's one delivery is listed, whatever the dispatcher has made of it by now.
deliveries=$(curl -sf "http://$HERALD_API_ADDR/events/$event/deliveries" \
  -H "Authorization: Bearer $(printf '%s\n' "$output" | sed -n 's/^KEY=//p')" | jq '.items | length')
[ "$deliveries" = 1 ] || die "expected one delivery for $event, found $deliveries"

kill -TERM "$stack"
status=0
wait "$stack" || status=$?
stack=
[ "$status" = 0 ] || { cat "$log_file"; die "the stack exited with $status on SIGTERM"; }

# Nothing secret in the logs of the whole run: not the admin token, not the tenant's key,
# not a webhook secret.
key=$(printf '%s\n' "$output" | sed -n 's/^KEY=//p')
[ "$(wc -l <"$log_file")" -gt 10 ] || die "the stack's log is nearly empty: nothing to check"
for secret in "$HERALD_ADMIN_TOKEN" "$key" whsec_; do
  if grep -qF -- "$secret" "$log_file"; then
    die "a secret (${secret:0:6}...) appears in the stack's log"
  fi
done
log "walk-through passed (event $event); the stack stopped cleanly"
