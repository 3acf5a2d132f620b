#!/usr/bin/env bash
# The whole test suite: unit and API tests against real PostgreSQL and nats-server, then the
# README walk-through and the portal's browser tests against a running stack.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

# Tests make their own databases (one per test) on this server, next to this one.
export DATABASE_URL=${HERALD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/herald_test}
"$here/ensure-services.sh"
command -v jq >/dev/null || apt_install jq
command -v curl >/dev/null || apt_install curl
command -v promtool >/dev/null || apt_install prometheus
# The NATS TLS tests make their throwaway certificates with it.
command -v openssl >/dev/null || apt_install openssl

"$here/ensure-test-database.sh"
"$here/install-test-tools.sh" standardwebhooks
# Under this script the signatures test must verify with the library, never skip.
export HERALD_TEST_STANDARDWEBHOOKS_PYTHON="$root/.tools/standardwebhooks/bin/python"
# The manifest tests render the kustomize overlays with kubectl.
"$here/install-test-tools.sh" kubectl
export HERALD_TEST_KUBECTL=${HERALD_TEST_KUBECTL:-$(command -v kubectl || echo "$root/.tools/kubectl/bin/kubectl")}

cd "$root"
log "running the test suite"
cargo test --workspace --locked --exclude herald-chaos

log "checking and unit-testing the Prometheus rules"
promtool check rules k8s/monitoring/*.yaml
(cd k8s/monitoring/tests && promtool test rules ./*.yaml)

log "checking the Chaos Mesh experiments (offline)"
cargo test --locked -p herald-chaos --test mesh

log "linting and cross-checking the container and dev-loop files"
"$here/check-container-files.sh"

log "checking the CI/CD workflows and the deploy script"
"$here/check-workflows.sh"

log "checking the README walk-through against make run"
"$here/check-walkthrough.sh"

log "the portal's browser tests against make run"
"$here/e2e.sh"
