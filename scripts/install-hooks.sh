#!/usr/bin/env bash
# Points git at the repository's hooks: pre-commit runs rustfmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
git config core.hooksPath .githooks
echo "git hooks installed (.githooks/pre-commit: cargo fmt --check, cargo clippy -D warnings)"
