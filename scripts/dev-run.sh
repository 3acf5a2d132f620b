#!/bin/sh
# Entry point of the Tilt dev image: runs one Herald binary and restarts it whenever live
# update replaces that binary, so a code change reaches the pod without a new image.
# The service is the first argument, or else the pod's Deployment name (the hostname less
# its two generated suffixes), so it works whatever command the manifest gives.
set -u
name=${1:-}
host=$(cat /proc/sys/kernel/hostname)
case "$name" in herald-*) ;; *) name=${host%-*-*} ;; esac
bin=${HERALD_DEV_BIN_DIR:-/opt/herald/bin}/$name
[ -x "$bin" ] || { echo "dev-run: no binary $bin" >&2; exit 1; }

stamp() { stat -c '%Y %s' "$bin" 2>/dev/null; }
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT

while :; do
  seen=$(stamp)
  "$bin" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(stamp)" = "$seen" ]; do sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "dev-run: $name changed, restarting" >&2
    kill -TERM "$pid"
    wait "$pid"
  else
    wait "$pid"
    echo "dev-run: $name exited ($?), starting again in 2s" >&2
    sleep 2
  fi
  # A sync still writing the file: wait until it stops changing.
  prev=
  while [ "$(stamp)" != "$prev" ]; do prev=$(stamp); sleep 1; done
done
