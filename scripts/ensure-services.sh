#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) answer where DATABASE_URL and NATS_URL point.
# Running ones are used as they are; local ones that are missing are installed from Debian's
# packages and started. Remote ones are only checked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/herald}"
: "${NATS_URL:=nats://127.0.0.1:4222}"

ensure_postgres() {
  read -r host port < <(url_host_port "$DATABASE_URL" 5432)
  port_open "$host" "$port" && return 0
  is_local "$host" || die "PostgreSQL at $host:$port does not answer"
  local fresh=
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -n "$fresh" ]; then
    # A new development cluster: let local TCP clients in as in the contract (trust auth on
    # loopback only).
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for "PostgreSQL on $host:$port" 60 port_open "$host" "$port"
}

ensure_nats_binary() {
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
}

ensure_nats() {
  ensure_nats_binary
  read -r host port < <(url_host_port "$NATS_URL" 4222)
  port_open "$host" "$port" && return 0
  is_local "$host" || die "NATS at $host:$port does not answer"
  local bin
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  as_root mkdir -p /var/lib/nats-server
  log "starting $bin with JetStream on $host:$port"
  as_root start-stop-daemon --start --oknodo --background --exec "$bin" -- \
    -a "$host" -p "$port" -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for "NATS on $host:$port" 30 port_open "$host" "$port"
}

ensure_postgres
ensure_nats
