#!/usr/bin/env bash
# The JetStream-facing tests again, against the current nats-server release (production's),
# beside the Debian 2.9.10 that `make test` uses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

"$here/install-test-tools.sh" nats
export DATABASE_URL=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
"$here/ensure-services.sh"
"$here/ensure-test-database.sh"
export HERALD_TEST_NATS_SERVER
HERALD_TEST_NATS_SERVER=$(ls "$root"/.tools/nats-*/bin/nats-server | sort -V | tail -n 1)
log "JetStream tests against $("$HERALD_TEST_NATS_SERVER" --version)"
cd "$root"
cargo test --locked -p herald-ingest -p herald-dispatcher -p herald-dlq -p herald-operator
cargo test --locked -p herald-test-support --test stream_replicas
