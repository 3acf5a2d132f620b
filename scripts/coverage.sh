#!/usr/bin/env bash
# Line coverage of the core delivery logic (domain, dispatcher, DLQ service) by their tests;
# fails under the floor. Instrumented test binaries run slower than plain ones; the DLQ
# suite's eleven end-to-end tests take about a minute, tarpaulin's default limit for a
# whole test binary, so the limit is raised.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

FLOOR=${HERALD_COVERAGE_FLOOR:-75}
"$here/install-test-tools.sh" cov
export DATABASE_URL=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
"$here/ensure-services.sh"
"$here/ensure-test-database.sh"
cd "$root"
cargo tarpaulin --engine llvm --skip-clean --target-dir target/coverage \
  -p herald-domain -p herald-dispatcher -p herald-dlq \
  --include-files 'services/domain/src/*' 'services/dispatcher/src/*' 'services/dlq/src/*' \
  --exclude-files '*/main.rs' \
  --timeout 600 --out Stdout --fail-under "$FLOOR"
