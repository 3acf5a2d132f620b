#!/usr/bin/env bash
# Load benchmark: builds release binaries, starts Herald on free ports with its own
# PostgreSQL cluster, nats-server and admin token, runs the standard scenarios with
# herald-loadgen and writes their JSON results (and each load run's SVG graphs) under
# docs/perf/results/, then stops the stack, its PostgreSQL and its nats-server.
# Not part of CI: the figures are written up in docs/perf/README.md.
#
#   scripts/bench.sh                 # the standard scenarios: ceiling, seed, fanout, peak
#   scripts/bench.sh seed            # only the named ones (also: sweep, soak, scale-out, serial)
#   BENCH_DURATION=10s scripts/bench.sh seed   # a shorter smoke run
#   BENCH_DISPATCHER_CONCURRENCY=10 scripts/bench.sh scale-out   # one vs two dispatchers
#   BENCH_BIN_DIR=/path/to/release scripts/bench.sh seed          # another build's services
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench.sh seed
#                                    # a running server instead of a private cluster
#   BENCH_NATS_URL=nats://127.0.0.1:4222 scripts/bench.sh seed    # a running NATS, not its own
#   BENCH_NATS=latest scripts/bench.sh seed  # its own nats-server at the current release
#                                    # (as production runs) instead of the distribution's
#   BENCH_PG_SETTINGS="max_wal_size=8GB checkpoint_timeout=15min" scripts/bench.sh fanout
#                                    # the private cluster with these settings (-c each)
#   BENCH_PAYLOAD_BYTES=1024 scripts/bench.sh fanout   # payloads of about 1 KiB, not {"seq": n}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(ceiling seed fanout peak)
duration=${BENCH_DURATION:-60s}
results="$root/docs/perf/results"
mkdir -p "$results"

bin="${CARGO_TARGET_DIR:-$root/target}/release"
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  # Another build's services (e.g. an earlier commit's, for a before/after comparison).
  log "services from $BENCH_BIN_DIR"
else
  log "building release binaries"
  (cd "$root" && cargo build --quiet --release \
    -p herald-ingest -p herald-dispatcher -p herald-dlq -p herald-loadgen)
fi
label=${BENCH_LABEL:+-$BENCH_LABEL}

# A port nothing listens on, chosen at random below Linux's ephemeral range (32768 and up),
# where an outgoing connection may hold a port that no listener is using.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 12000))
    port_open 127.0.0.1 "$port" || { echo "$port"; return; }
  done
}

# PostgreSQL: a private cluster with stock settings (autovacuum on, as in production) unless
# BENCH_DATABASE_URL names a server; BENCH_PG_SETTINGS (name=value words) changes some.
# A server tuned for tests (autovacuum off) never vacuums the delivery table, and every
# claim and record then gets slower as a run goes on:
# a scale-out run measured 1.3 ms per single-row claim there and 0.25 ms with autovacuum.
pg_dir=
pg_ctl=
as_postgres=()
start_postgres() {
  local bindir port
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bindir/initdb" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  pg_dir=$(mktemp -d /tmp/herald-bench-pg.XXXXXX)
  pg_ctl="$bindir/pg_ctl"
  port=$(free_port)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_dir"
    as_postgres=(runuser -u postgres --)
  fi
  "${as_postgres[@]}" "$bindir/initdb" -D "$pg_dir/data" -U postgres -A trust >/dev/null ||
    die "initdb failed"
  local options="-p $port -k $pg_dir -c listen_addresses=127.0.0.1" setting
  for setting in ${BENCH_PG_SETTINGS:-}; do options+=" -c $setting"; done
  "${as_postgres[@]}" "$pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -o "$options" start \
    >/dev/null ||
    die "the benchmark's PostgreSQL did not start: $(tail -n 5 "$pg_dir/log")"
  base_url="postgres://postgres@127.0.0.1:$port/postgres"
}

# NATS: a private nats-server with JetStream in a temporary directory unless BENCH_NATS_URL
# names one, so that its CPU is the benchmark's alone and its streams go with it (a shared
# server keeps every earlier run's streams and consumers, and their timers cost it CPU).
nats_dir=
nats_pid=
start_nats() {
  local binary port
  if [ "${BENCH_NATS:-}" = latest ]; then
    # The release production runs, as the JetStream tests against it install it.
    "$here/install-test-tools.sh" nats
    binary=$(ls "$root"/.tools/nats-*/bin/nats-server | sort -V | tail -n 1)
  else
    binary=$(command -v nats-server || echo /usr/sbin/nats-server)
  fi
  [ -x "$binary" ] || die "no nats-server binary"
  nats_dir=$(mktemp -d /tmp/herald-bench-nats.XXXXXX)
  port=$(free_port)
  "$binary" -a 127.0.0.1 -p "$port" -js -sd "$nats_dir" -l "$nats_dir/log" &
  nats_pid=$!
  wait_for "the benchmark's nats-server" 30 port_open 127.0.0.1 "$port"
  export NATS_URL="nats://127.0.0.1:$port"
  log "NATS for the benchmark: $NATS_URL ($("$binary" --version), in $nats_dir)"
}
stop_nats() {
  [ -n "$nats_pid" ] || return 0
  kill -TERM "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  rm -rf "$nats_dir"
}

suffix="$(date +%s)_$$"
if [ -n "${BENCH_NATS_URL:-}" ]; then
  export NATS_URL=$BENCH_NATS_URL
else
  start_nats
  trap stop_nats EXIT
fi
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  base_url=$BENCH_DATABASE_URL
else
  start_postgres
  trap 'stop_nats; "${as_postgres[@]}" "$pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null; rm -rf "$pg_dir"' EXIT
  log "PostgreSQL for the benchmark: ${base_url%/*} (${BENCH_PG_SETTINGS:-stock settings}, in $pg_dir)"
fi
export DATABASE_URL="${base_url%/*}/herald_bench_$suffix"
export HERALD_NATS_PREFIX="bench_$suffix"
export HERALD_API_ADDR="127.0.0.1:$(free_port)"
export HERALD_DISPATCHER_HEALTH_ADDR="127.0.0.1:$(free_port)"
export HERALD_DLQ_HEALTH_ADDR="127.0.0.1:$(free_port)"
export HERALD_ADMIN_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export HERALD_ALLOW_PRIVATE_CIDRS=127.0.0.0/8
export HERALD_LOG_FORMAT=json RUST_LOG=${RUST_LOG:-warn}
export HERALD_BIN_DIR="${BENCH_BIN_DIR:-$bin}"
# Caps each dispatcher process (HERALD_DISPATCHER_CONCURRENCY) for the scale-out scenario.
[ -z "${BENCH_DISPATCHER_CONCURRENCY:-}" ] ||
  export HERALD_DISPATCHER_CONCURRENCY=$BENCH_DISPATCHER_CONCURRENCY
# BENCH_LOG=<file> keeps the stack's log there; by default it is a temporary file, removed.
log_file=${BENCH_LOG:-$(mktemp)}

cleanup() {
  local status=$?
  [ "$status" = 0 ] || { log "the stack's log, last lines:"; tail -n 30 "$log_file" >&2 || true; }
  [ -n "${stack:-}" ] && kill -TERM "$stack" 2>/dev/null && wait "$stack" 2>/dev/null || true
  psql "${base_url%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"${DATABASE_URL##*/}\" WITH (FORCE)" ||
    true
  if [ -n "$pg_dir" ]; then
    "${as_postgres[@]}" "$pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null || true
    rm -rf "$pg_dir"
  fi
  stop_nats
  [ -n "${BENCH_LOG:-}" ] || rm -f "$log_file"
}
trap cleanup EXIT

"$here/run.sh" >"$log_file" 2>&1 &
stack=$!
wait_for "the stack's readyz" 300 curl -sf -o /dev/null "http://$HERALD_API_ADDR/readyz"
wait_for "the dispatcher's readyz" 60 curl -sf -o /dev/null "http://$HERALD_DISPATCHER_HEALTH_ADDR/readyz"
wait_for "the DLQ service's readyz" 60 curl -sf -o /dev/null "http://$HERALD_DLQ_HEALTH_ADDR/readyz"

# The stack's processes, as name=pid for loadgen's /proc sampler.
pids=$(pgrep -P "$stack" -a | awk '{ n = $2; sub(".*/", "", n); printf "%s%s=%s", sep, n, $1; sep = "," }')
log "stack on http://$HERALD_API_ADDR ($pids)"

# CPU seconds (user + system) used so far by every process named $1 (or, given, by the
# process $2 alone), with that of their children that have exited: PostgreSQL runs one
# process per connection, so loadgen's per-pid sampler cannot see it whole, and a connection
# closed during a scenario takes its time along unless its parent's count of its exited
# children is read too.
cpu_seconds() {
  local ticks=0 pid fields
  for pid in ${2:-$(pgrep -x "$1")}; do
    read -ra fields <"/proc/$pid/stat" 2>/dev/null || continue
    ticks=$((ticks + fields[13] + fields[14] + fields[15] + fields[16]))
  done
  local hz
  hz=$(getconf CLK_TCK)
  echo "$((ticks / hz)).$(((ticks % hz) * 10 / hz))"
}

# The difference of two such figures, to a tenth of a second.
cpu_delta() {
  local tenths=$((10#${2/./} - 10#${1/./}))
  if [ "$tenths" -lt 0 ]; then
    echo "unknown (a process counted before was gone after)"
    return
  fi
  echo "$((tenths / 10)).$((tenths % 10))"
}

# The benchmark's PostgreSQL processes: its private cluster's postmaster and that one's
# children (a connection each, the background workers), whose exited children's time the
# postmaster holds; with BENCH_DATABASE_URL, every postgres process on the machine. Counting
# every postgres process also counted the machine's other servers. (Earlier runs twice got a
# fifth of PostgreSQL's time, and once a negative figure; why is not known.)
postgres_pids() {
  if [ -n "$pg_dir" ]; then
    local postmaster children
    postmaster=$(head -n 1 "$pg_dir/data/postmaster.pid")
    children=$(pgrep -P "$postmaster" | tr '\n' ' ')
    echo "$postmaster $children"
  else
    pgrep -x postgres
  fi
}

# The server's WAL written so far (records, full-page images, MB) and its checkpoints
# (timed, requested: a requested one means max_wal_size filled before checkpoint_timeout).
wal_counters() {
  psql "${base_url%/*}/postgres" -XAtF' ' -c "SELECT w.wal_records, w.wal_fpi,
    round(w.wal_bytes / 1048576.0), b.checkpoints_timed, b.checkpoints_req
    FROM pg_stat_wal w, pg_stat_bgwriter b"
}

# run NAME [ceiling] FLAGS...: a mode word must come first on loadgen's command line.
run() {
  local name=$1 pg_before nats_before wal_before wal_after
  shift
  log "scenario $name: $*"
  pg_before=$(cpu_seconds postgres "$(postgres_pids)")
  nats_before=$(cpu_seconds nats-server "$nats_pid")
  read -ra wal_before < <(wal_counters)
  [ "$1" = ceiling ] || [ -z "${BENCH_PAYLOAD_BYTES:-}" ] ||
    set -- "$@" --payload-bytes "$BENCH_PAYLOAD_BYTES"
  "$bin/herald-loadgen" "$@" --api "http://$HERALD_API_ADDR" --admin-token "$HERALD_ADMIN_TOKEN" \
    --duration "$duration" --pids "$pids" --scenario "$name" \
    --out "$results/$name$label-$(date -u +%Y%m%dT%H%M%SZ).json"
  log "scenario $name: PostgreSQL used $(cpu_delta "$pg_before" "$(cpu_seconds postgres "$(postgres_pids)")") CPU s," \
    "nats-server $(cpu_delta "$nats_before" "$(cpu_seconds nats-server "$nats_pid")") CPU s (the benchmark's" \
    "own cluster and nats-server; every such process when BENCH_DATABASE_URL, BENCH_NATS_URL are set)"
  read -ra wal_after < <(wal_counters)
  log "scenario $name: WAL $((wal_after[0] - wal_before[0])) records," \
    "$((wal_after[1] - wal_before[1])) full-page images, $((wal_after[2] - wal_before[2])) MB;" \
    "checkpoints $((wal_after[3] - wal_before[3])) timed, $((wal_after[4] - wal_before[4])) requested"
}

# scale-out: the same latency-bound load (receiver answering after 50 ms) with one dispatcher
# process, then with a second one started beside it. Meant for a stack whose dispatchers are
# capped (BENCH_DISPATCHER_CONCURRENCY), so that one process saturates.
scale_out() {
  local second
  duration=20s run scale-1 --rate 500 --webhooks 100 --receiver-delay 50ms --drain 120s
  HERALD_DISPATCHER_HEALTH_ADDR="127.0.0.1:$(free_port)" "$HERALD_BIN_DIR/herald-dispatcher" \
    >>"$log_file" 2>&1 &
  second=$!
  pids="$pids,herald-dispatcher-2=$second"
  duration=20s run scale-2 --rate 500 --webhooks 100 --receiver-delay 50ms --drain 120s
  kill -TERM "$second" && wait "$second" || true
  pids=${pids%,herald-dispatcher-2=*}
}

for scenario in "${scenarios[@]}"; do
  case $scenario in
    # Plain HTTP to loadgen's own receiver, no Herald: the yardstick for the deliveries/s below.
    ceiling) run ceiling ceiling --concurrency 256 ;;
    seed) run seed --rate 1000 --webhooks 100 --drain 30s ;;
    fanout) run fanout --rate 500 --webhooks 100 --fanout 10 --drain 30s ;;
    # As fast as the API answers, ten deliveries per event.
    peak) run peak --rate 0 --concurrency 64 --webhooks 100 --fanout 10 --drain 30s ;;
    # Open loop at rising rates, ten deliveries per event, 30 s each: the sustained peak is
    # the highest rate whose deliveries keep up with end-to-end p95 under 50 ms (a closed
    # loop, as in peak, measures a full backlog instead). BENCH_SWEEP: events/s per step.
    sweep)
      for rate in ${BENCH_SWEEP:-300 350 400 450 500}; do
        duration=${BENCH_SWEEP_DURATION:-30s} run "sweep-$rate" --rate "$rate" --webhooks 100 \
          --fanout 10 --drain 30s
      done ;;
    soak) duration=${BENCH_SOAK_DURATION:-10m} run soak --rate 1000 --webhooks 100 --drain 30s ;;
    scale-out) scale_out ;;
    # One caller sending each event once the last was answered, as fast as that goes: what
    # a lone importer sees, which no batching may slow down.
    serial) run serial --rate 0 --concurrency 1 --webhooks 1 --drain 10s ;;
    scale-1) duration=20s run scale-1 --rate 500 --webhooks 100 --receiver-delay 50ms --drain 120s ;;
    *) die "unknown scenario $scenario: ceiling, seed, fanout, peak, sweep, soak, scale-out or serial" ;;
  esac
done
log "results in $results"
