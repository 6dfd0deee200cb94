#!/usr/bin/env bash
# tests/bench/events.sh — the cost of notifications' events for a push
# (issue 14: at most 5%). Starts two Wharf pools behind nginx exactly as the
# e2e tests do (tests/e2e/lib.sh), the same except that the second has a
# notifications endpoint (so every request that pushes, mounts, deletes or
# pulls appends its event to the journal; notifications.queue.fsync: true,
# the default), then runs tests/bench/events.py on both, interleaved.
#
#   BUILD=build tests/bench/events.sh [events.py options]
#
# Results: tests/bench/results/events-<UTC date>.{md,jsonl}; summary in
# tests/bench/RESULTS-events.md. Env: EVENTS_FSYNC=false measures with
# notifications.queue.fsync off.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../e2e/lib.sh
source "$repo/tests/e2e/lib.sh"
e2e_init
WHARF_E2E_LOGLEVEL=warn
export WHARF_E2E_LOGLEVEL
wharf_start || exit 1
off=$W_URL
cat >"$TMP/notify.yml" <<EOF
notifications:
  endpoints:
    - name: bench
      url: http://127.0.0.1:9/events
  queue:
    directory: $TMP/events
    fsync: ${EVENTS_FSYNC:-true}
EOF
WHARF_E2E_CONFIG_APPEND=$TMP/notify.yml wharf_start || exit 1
on=$W_URL
mkdir -p "$here/results"
out=$here/results/events-$(date -u +%Y%m%d-%H%M%S)
python3 "$here/events.py" --target "off=$off" --target "on=$on" --out "$out" "$@"
echo "# journal: $(cat "$TMP/events/"*.log 2>/dev/null | wc -l) events in $TMP/events"
echo "# results: $out.md"
