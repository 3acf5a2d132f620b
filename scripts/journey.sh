#!/usr/bin/env bash
# One event's journey through Herald, from the services' JSON logs: accepted, each job
# enqueued, every attempt and its result, retries with their delay, then delivered or
# dead-lettered (and manual retries).
#   scripts/run.sh 2>&1 | tee herald.log      # or the pods' logs on Kubernetes
#   scripts/journey.sh evt_... herald.log
# Reads standard input when no file is given; lines that are not JSON are skipped.
set -euo pipefail
event=${1:?usage: journey.sh EVENT_ID [LOG_FILE...]}
shift
jq -R -r --arg id "$event" '
  fromjson?
  | select(.event_id == $id)
  | [ .timestamp,
      .message,
      (.delivery_id // "-"),
      (if .attempt then "attempt=\(.attempt)" else empty end),
      (if .status_code then "status=\(.status_code)" else empty end),
      (if .delay_ms then "retry_in=\(.delay_ms)ms" else empty end),
      (if .reason then "reason=\(.reason)" else empty end),
      (if .error then "error=\(.error)" else empty end) ]
  | join("  ")' "$@" | sort
