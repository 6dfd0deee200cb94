#!/usr/bin/env bash
# tests/bench/events.sh — the cost of notifications' events for a push
# (issue 14: at most 5%). Starts one Wharf pool behind nginx exactly as the
# e2e tests do (tests/e2e/lib.sh) and runs tests/bench/events.py on it in
# interleaved rounds, switching its configuration between them (SIGHUP
# reload): "off" has no notifications endpoint; "on" has one, so every
# request that pushes, mounts, deletes or pulls appends its event to the
# journal, fdatasync'ed for pushes (notifications.queue.fsync: true, the
# default). One instance for both: two instances differ by more than 5% on
# a busy machine whatever their configuration.
#
#   BUILD=build tests/bench/events.sh [events.py options]
#
# Results: tests/bench/results/events-<UTC date>.{md,jsonl}; summary in
# tests/bench/RESULTS-events.md. Env: EVENTS_FSYNC=false measures with
# notifications.queue.fsync off; EVENTS_ENDPOINT=dead with an endpoint that
# never answers (raising and journaling only, no delivery).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../e2e/lib.sh
source "$repo/tests/e2e/lib.sh"
e2e_init
export WHARF_E2E_LOGLEVEL=info # the reload's log line tells when it is done
wharf_start || exit 1
cp "$W_DIR/config.yml" "$TMP/config-off.yml"
# "on" delivers too: the sender (a service of the pool's master) POSTs every
# event to a local sink while the pushes run, as in production. The sink
# stands for an endpoint on another machine: niced, so that the python
# process's CPU is not billed to the registry on a 2-core host.
# EVENTS_ENDPOINT=dead: the endpoint does not answer (nothing is delivered,
# the sender backs off): what raising and journaling alone cost.
SINK_PORT=$(free_port)
: >"$TMP/sink.jsonl"
if [ "${EVENTS_ENDPOINT:-sink}" != dead ]; then
	nice -n 19 python3 "$repo/tests/e2e/fixtures/event_sink.py" "$SINK_PORT" "$TMP/sink.jsonl" </dev/null &
	track_pid $!
fi
{
	cat "$TMP/config-off.yml"
	printf 'notifications:\n  endpoints:\n    - name: bench\n      url: http://127.0.0.1:%s/events\n' "$SINK_PORT"
	printf '  queue:\n    directory: %s\n    fsync: %s\n' "$TMP/events" "${EVENTS_FSYNC:-true}"
} >"$TMP/config-on.yml"
# the switch: install config-NAME.yml, SIGHUP, wait for the new generation
{
	echo '#!/usr/bin/env bash'
	echo "log=$W_DIR/wharf.log"
	echo 'n=$(grep -c "configuration reloaded" "$log")'
	echo "cp \"$TMP/config-\$1.yml\" \"$W_DIR/config.yml\""
	echo "kill -HUP $W_PID"
	echo 'for i in $(seq 1 100); do'
	echo '	[ "$(grep -c "configuration reloaded" "$log")" -gt "$n" ] && break'
	echo '	sleep 0.05'
	echo 'done'
	echo 'sleep 0.3 # the old generation retires'
} >"$TMP/switch.sh"
chmod +x "$TMP/switch.sh"
mkdir -p "$here/results"
out=$here/results/events-$(date -u +%Y%m%d-%H%M%S)
python3 "$here/events.py" --target "off=$W_URL" --target "on=$W_URL" --switch "$TMP/switch.sh" \
	--out "$out" "$@"
echo "# delivered to the sink: $(wc -l <"$TMP/sink.jsonl") events; left in the journal: $(cat "$TMP/events/"*.log 2>/dev/null | wc -l) lines"
echo "# results: $out.md"
