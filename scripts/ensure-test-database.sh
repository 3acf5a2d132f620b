#!/usr/bin/env bash
# Creates the database named in DATABASE_URL if absent: `#[sqlx::test]` makes each test's
# own database on the same server, next to it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${DATABASE_URL:?}"
db=${DATABASE_URL##*/}
admin_url=${DATABASE_URL%/*}/postgres
exists=$(psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
[ "$exists" = 1 ] || psql "$admin_url" -qc "CREATE DATABASE \"$db\""
