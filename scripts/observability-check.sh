#!/usr/bin/env bash
# A real Prometheus scrapes a running Herald (scripts/run.sh) for a minute while events flow
# to a receiver that accepts and one that refuses; then every series the Grafana dashboard
# queries must exist. Ports 18180-18191 and 19090 on loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

command -v prometheus >/dev/null || apt_install prometheus
command -v jq >/dev/null || apt_install jq
suffix="$(date +%s)_$$"
base_url=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
export DATABASE_URL="${base_url%/*}/herald_observe_$suffix"
export HERALD_NATS_PREFIX="observe_$suffix"
export HERALD_API_ADDR=127.0.0.1:18180
export HERALD_DISPATCHER_HEALTH_ADDR=127.0.0.1:18181
export HERALD_DLQ_HEALTH_ADDR=127.0.0.1:18182
export HERALD_ADMIN_TOKEN="observe-$suffix"
export HERALD_ALLOW_PRIVATE_CIDRS=127.0.0.0/8
export HERALD_RETRY_SCHEDULE=200ms,400ms
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "${base_url%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"${DATABASE_URL##*/}\" WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$here/run.sh" >"$work/herald.log" 2>&1 &
pids+=($!)
python3 "$root/chaos/tests/receiver.py" 127.0.0.1 18190 "$work/received.log" &
pids+=($!)
# A plain file server: it answers POST with 501, so those deliveries are dead-lettered.
(cd "$work" && exec python3 -m http.server --bind 127.0.0.1 18191 >/dev/null 2>&1) &
pids+=($!)
wait_for "Herald's readyz" 300 curl -sf -o /dev/null "http://$HERALD_API_ADDR/readyz"

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $root/k8s/monitoring/herald-slo.yaml
  - $root/k8s/monitoring/herald-alerts.yaml
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: ["$HERALD_API_ADDR", "$HERALD_DISPATCHER_HEALTH_ADDR", "$HERALD_DLQ_HEALTH_ADDR"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address=127.0.0.1:19090 >"$work/prometheus.log" 2>&1 &
pids+=($!)

api="http://$HERALD_API_ADDR"
json='Content-Type: application/json'
key=$(curl -sf -X POST "$api/admin/tenants" -H "Authorization: Bearer $HERALD_ADMIN_TOKEN" -H "$json" \
  -d '{"name": "observed"}' | jq -r .api_key)
curl -sf -X POST "$api/event-types" -H "Authorization: Bearer $key" -H "$json" -d '{"name": "order.created"}' >/dev/null
for port in 18190 18191; do
  curl -sf -X POST "$api/webhooks" -H "Authorization: Bearer $key" -H "$json" \
    -d "{\"url\": \"http://127.0.0.1:$port/hook\"}" >/dev/null
done
# A tenant held to one event a second, sent three at once: its refusals are metrics too.
limited=$(curl -sf -X POST "$api/admin/tenants" -H "Authorization: Bearer $HERALD_ADMIN_TOKEN" -H "$json" \
  -d '{"name": "limited"}' | jq -r .api_key)
curl -sf -X PUT "$api/admin/tenants/limited/quotas" -H "Authorization: Bearer $HERALD_ADMIN_TOKEN" \
  -H "$json" -d '{"events_per_second": 1, "burst": 1}' >/dev/null
curl -sf -X POST "$api/event-types" -H "Authorization: Bearer $limited" -H "$json" -d '{"name": "order.created"}' >/dev/null
for _ in 1 2 3; do
  curl -s -o /dev/null -X POST "$api/events" -H "Authorization: Bearer $limited" -H "$json" \
    -d '{"type": "order.created", "payload": {}}'
done
log "scraping for a minute while events flow"
deadline=$((SECONDS + 60))
n=0
while [ "$SECONDS" -lt "$deadline" ]; do
  curl -sf -X POST "$api/events" -H "Authorization: Bearer $key" -H "$json" \
    -d "{\"type\": \"order.created\", \"payload\": {\"n\": $n}}" >/dev/null
  n=$((n + 1))
  sleep 1
done

missing=()
for name in $(grep -o 'herald[_:][a-z0-9_:]*' "$root/k8s/monitoring/dashboards/herald.json" | sort -u); do
  found=$(curl -sf "http://127.0.0.1:19090/api/v1/series" --data-urlencode "match[]=$name" | jq '.data | length')
  if [ "${found:-0}" -gt 0 ]; then
    printf '  %-50s %s series\n' "$name" "$found"
  else
    missing+=("$name")
  fi
done
[ ${#missing[@]} -eq 0 ] || die "Prometheus never saw: ${missing[*]}"
log "all $(grep -o 'herald[_:][a-z0-9_:]*' "$root/k8s/monitoring/dashboards/herald.json" | sort -u | wc -l) dashboard series present after scraping $n events' traffic"
