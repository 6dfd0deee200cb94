#!/usr/bin/env bash
# Notifications' events (issue 14) field by field against the reference:
# the same requests (fixtures/events_scenario.py: blob pushes, manifest
# pushes by tag and by digest, an index, pulls by GET and HEAD, a mount,
# deletes, 404s raising nothing) go to docker-registry 2.8.2 sending to a
# local sink (fixtures/event_sink.py) and to Wharf; the events must agree
# key by key (ids, timestamps, addresses and instance ids only in format:
# fixtures/events_compare.py). Wharf's events are in its journal as soon as
# each request has answered (appended before the response). Also: a tag's
# DELETE (which 2.8.2 refuses) raises {repository, tag}; a journal that
# cannot be written fails no request and is logged.
source "$(dirname "$0")/lib.sh"
e2e_init

if [ "$E2E_TARGET" = reference ]; then
	t_skip "events compared with the reference registry" "compares Wharf's journal with the reference itself"
	exit 0
fi
if ! why=$(need_cmd docker-registry nginx curl jq); then
	t_skip "events compared with the reference registry" "$why"
	exit 0
fi
SINK="$E2E_DIR/fixtures/event_sink.py"
SCENARIO="$E2E_DIR/fixtures/events_scenario.py"
COMPARE="$E2E_DIR/fixtures/events_compare.py"

# sink_start FILE: the sink on a free port; sets SINK_PORT
sink_start() {
	SINK_PORT=$(free_port) || return 1
	"$PYTHON" "$SINK" "$SINK_PORT" "$1" </dev/null &
	track_pid $!
	wait_for 10 port_busy "$SINK_PORT"
}
# lines FILE: its line count (0 when absent)
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# at_least N FILE: FILE has N lines or more (for wait_for, which re-runs it)
at_least() { [ "$(lines "$2")" -ge "$1" ]; }

# ---- the reference, sending to the sink ---------------------------------------------
sink_start "$TMP/ref-sink.jsonl" || t_fail "the sink starts"
mkdir -p "$TMP/ref" "$TMP/ref-root"
rport=$(free_port)
refreg_config "$TMP/ref/config.yml" "$TMP/ref-root" "$rport"
cat >>"$TMP/ref/config.yml" <<EOF
notifications:
  events:
    includereferences: true
  endpoints:
    - name: sink
      url: http://127.0.0.1:$SINK_PORT/events
      timeout: 2s
      threshold: 5
      backoff: 1s
EOF
env -u AWS_CA_BUNDLE docker-registry serve "$TMP/ref/config.yml" >"$TMP/ref/registry.log" 2>&1 </dev/null &
R_PID=$!
track_pid "$R_PID"
if wait_http "http://127.0.0.1:$rport/v2/" "$R_PID" 20; then
	check "reference: the scenario's requests answer as expected" \
		"$PYTHON" "$SCENARIO" "http://127.0.0.1:$rport"
	nref=$(grep -c '^[A-Z]' "$TMP/.check.out" 2>/dev/null)
	# the reference delivers from an in-memory queue, one event per POST
	wait_for 20 at_least 15 "$TMP/ref-sink.jsonl"
	check_eq "reference: 15 events reached the sink" 15 "$(lines "$TMP/ref-sink.jsonl")"
	jq -s '[.[].json]' "$TMP/ref-sink.jsonl" >"$TMP/ref-envelopes.json"
	ct=$(jq -r '.headers["Content-Type"]' "$TMP/ref-sink.jsonl" | sort -u)
	diag "reference: $nref requests; its envelopes' Content-Type: $ct"
	refreg_stop
else
	t_fail "reference registry starts with notifications" "$(tail -n 20 "$TMP/ref/registry.log")"
fi

# ---- Wharf, its journal, its sender ---------------------------------------------
# The endpoint's sink is not up while the scenario runs: every event must be
# in the journal when its request has answered, and reach the sink once it
# is up (the sender retries on its backoff).
W_SINK_PORT=$(free_port)
cat >"$TMP/notify.yml" <<EOF
notifications:
  events:
    includereferences: true
  endpoints:
    - name: sink
      url: http://127.0.0.1:$W_SINK_PORT/events
      timeout: 2s
      threshold: 5
      backoff: 1s
  queue:
    directory: $TMP/wharf-events
EOF
export WHARF_E2E_CONFIG_APPEND=$TMP/notify.yml
if wharf_start; then
	check "wharf: the scenario's requests answer as expected" "$PYTHON" "$SCENARIO" "$W_URL"
	# no wait: every event is in the journal before its request answered
	journal() { cat $(ls "$TMP/wharf-events/"[0-9]*.log 2>/dev/null | sort) "$TMP/wharf-events/current.log" 2>/dev/null; }
	check_eq "wharf: 15 events in the journal once the requests have answered" 15 "$(journal | wc -l)"
	journal >"$TMP/journal.txt"
	check "journal: one JSON object per line" jq -ce . "$TMP/journal.txt"
	# the sender (admin/notify.c, a service of the pool's master) delivers
	# them one per envelope, as the reference does, once the sink is up
	"$PYTHON" "$SINK" "$W_SINK_PORT" "$TMP/wharf-sink.jsonl" </dev/null &
	track_pid $!
	wait_for 30 at_least 15 "$TMP/wharf-sink.jsonl"
	check_eq "wharf: 15 events reached the sink" 15 "$(lines "$TMP/wharf-sink.jsonl")"
	jq -s '[.[].json]' "$TMP/wharf-sink.jsonl" >"$TMP/wharf-envelopes.json"
	check_eq "wharf: the envelopes' Content-Type is the reference's" "$ct" \
		"$(jq -r '.headers["Content-Type"]' "$TMP/wharf-sink.jsonl" | sort -u)"
	check "events field by field: Wharf = reference 2.8.2" \
		"$PYTHON" "$COMPARE" "$TMP/ref-envelopes.json" "$TMP/wharf-envelopes.json"

	# a tag's DELETE (not in 2.8.2; distribution 3's TagDeleted shape)
	code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/ev/app/manifests/v1")
	check_eq "wharf: DELETE of a tag: 202" 202 "$code"
	wait_for 20 at_least 16 "$TMP/wharf-sink.jsonl"
	check_eq "wharf: one event more" 16 "$(lines "$TMP/wharf-sink.jsonl")"
	last=$(tail -n 1 "$TMP/wharf-sink.jsonl" | jq -c '.json.events[0] | {action, target, method: .request.method}')
	check_eq "wharf: the tag's delete event: {repository, tag}" \
		'{"action":"delete","target":{"repository":"ev/app","tag":"v1"},"method":"DELETE"}' "$last"
	wharf_stop
else
	t_fail "wharf starts with notifications"
fi

# ---- a journal that cannot be written: the request still succeeds -----------------
touch "$TMP/not-a-dir"
sed "s|directory: .*|directory: $TMP/not-a-dir/events|" "$TMP/notify.yml" >"$TMP/notify-bad.yml"
export WHARF_E2E_CONFIG_APPEND=$TMP/notify-bad.yml
if wharf_start; then
	printf 'unqueued' >"$TMP/blob"
	dig=sha256:$(sha256sum "$TMP/blob" | cut -d' ' -f1)
	loc=$(curl -s -D - -o /dev/null -X POST "$W_URL/v2/ev/bad/blobs/uploads/" | tr -d '\r' |
		sed -n 's/^[Ll]ocation: //p')
	sep='?'
	case $loc in *\?*) sep='&' ;; esac
	case $loc in /*) loc=$W_URL$loc ;; esac
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$TMP/blob" \
		-H 'Content-Type: application/octet-stream' "$loc${sep}digest=$dig")
	check_eq "unwritable journal: the blob push still answers 201" 201 "$code"
	check "unwritable journal: the lost event is logged" grep -q "push event of ev/bad $dig not queued" "$W_DIR/wharf.log"
	wharf_stop
else
	t_fail "wharf starts with an unwritable queue directory"
fi
e2e_done
