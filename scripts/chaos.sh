#!/usr/bin/env bash
# The chaos drills: the services as processes, killed, cut off and starved mid-load (see
# chaos/README.md). Slower than `make test`; CI runs both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

export DATABASE_URL=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
"$here/ensure-services.sh"
"$here/ensure-test-database.sh"
cd "$root"
cargo build --locked --bins
log "running the chaos drills, one at a time"
cargo test --locked -p herald-chaos --test drills -- --test-threads=1 --nocapture
