# Shared helpers for Herald's scripts. Sourced, not run.

log() { printf '\033[1;34m[herald]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[herald] %s\033[0m\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# port_open HOST PORT: whether something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${seconds}s"
    sleep 0.2
  done
}

# url_host_port URL DEFAULT_PORT: prints "host port" of a postgres:// or nats:// URL.
url_host_port() {
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  local host=${rest%%:*} port=$2
  [ "$rest" != "$host" ] && port=${rest##*:}
  [ -n "$host" ] || host=127.0.0.1
  echo "$host $port"
}

is_local() {
  case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac
}
