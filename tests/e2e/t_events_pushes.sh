#!/usr/bin/env bash
# Notifications from real clients (issue 14): skopeo pushes through nginx
# while the endpoint is up, then down; the whole pool is killed -9 and
# restarted, pushes and a delete continue, the endpoint comes back: every
# event the requests raised (each blob, each manifest with its tag, the
# delete) arrives, the manifests' in the order they were pushed; then two
# nodes on one storage root, each with its own queue directory, each
# delivering its own events under its own source.instanceID.
#
# t_events_durable.sh tests the queue and the sender with records it writes
# itself (hundreds of them, a kill in the middle of a delivery);
# t_events_envelope.sh compares the events with the reference's.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx skopeo jq); then
	t_skip "events of real pushes survive" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "events of real pushes survive" "the reference's queue is in memory (lost on a restart)"
	exit 0
fi

SINK_PORT=$(free_port)
OUT=$TMP/sink.jsonl
QDIR=$TMP/q1 # the queue directory of the next wharf_start
NODE=node1

eval "$(declare -f wharf_config | sed '1s/wharf_config/base_wharf_config/')"
wharf_config() {
	base_wharf_config "$@"
	cat >>"$1" <<EOF
notifications:
  queue:
    directory: $QDIR
  endpoints:
    - name: sink
      url: http://127.0.0.1:$SINK_PORT/$NODE
      timeout: 500ms
      threshold: 3
      backoff: 300ms
    - name: ce
      url: http://127.0.0.1:$SINK_PORT/ce-$NODE
      format: cloudevents
      timeout: 500ms
      threshold: 3
      backoff: 300ms
      ignore:
        mediatypes: [application/octet-stream]
EOF
}

sink_start() {
	"$PYTHON" "$E2E_DIR/fixtures/event_sink.py" "$SINK_PORT" "$OUT" </dev/null &
	SINK_PID=$!
	track_pid "$SINK_PID"
	wait_for 10 port_busy "$SINK_PORT"
}

# got PATH: "action digest tag" of every event the sink received on PATH, in
# arrival order (tag "-" when none)
got() {
	[ -f "$OUT" ] || return 0
	jq -r --arg p "$1" 'select(.path == $p) | .json.events[] |
		"\(.action) \(.target.digest // "-") \(.target.tag // "-")"' "$OUT"
}
# expect_image DIR TAG: the events a push of the OCI layout DIR as TAG raises
# (a push of each blob, then of the manifest with its tag)
expect_image() {
	local b
	for b in "$1"/blobs/sha256/*; do
		[ "sha256:${b##*/}" = "$(cat "$1.digest")" ] && continue
		echo "push sha256:${b##*/} -"
	done
	echo "push $(cat "$1.digest") $2"
}
# has_all PATH FILE: every line of FILE was received on PATH
has_all() { [ -z "$(comm -23 <(sort -u "$2") <(got "$1" | sort -u))" ]; }
push() { skopeo_copy "oci:$TMP/img$1:latest" "docker://$W_HOST/ev/app:v$1" 2>>"$TMP/push.err"; }

for i in 1 2 3 4 5 6; do
	mkimage "$TMP/img$i" --layers 2 --size 3000 --seed "events-$i" >"$TMP/img$i.digest"
done

# ---- endpoint up ---------------------------------------------------------------
sink_start || t_fail "the sink starts"
wharf_start || { t_fail "registry starts"; exit 1; }
ROOT=$W_ROOT
push 1
t_result "push v1" $? "$(tail -n 3 "$TMP/push.err")"
expect_image "$TMP/img1" v1 >"$TMP/want1"
wait_for 20 has_all /node1 "$TMP/want1"
rc=$? # (a $(...) in t_result's name would reset $?)
t_result "endpoint up: the push's events arrive ($(wc -l <"$TMP/want1"): blobs, manifest with its tag)" $rc \
	"want: $(cat "$TMP/want1")" "got: $(got /node1)"

# the same push to a CloudEvents endpoint that ignores blobs
ce_v1() { [ -n "$(jq -c 'select(.path == "/ce-node1" and .json.subject == "ev/app:v1")' "$OUT" 2>/dev/null)" ]; }
wait_for 20 ce_v1
rc=$?
t_result "a CloudEvents endpoint gets the manifest's push" $rc "$(jq -c 'select(.path == "/ce-node1")' "$OUT" | head -n 3)"
ce=$(jq -c 'select(.path == "/ce-node1" and .json.subject == "ev/app:v1") |
	[.headers["Content-Type"], .json.specversion, .json.type, .json.data.target.tag]' "$OUT" | head -n 1)
check_eq "structured CloudEvents 1.0, the event as data" \
	'["application/cloudevents+json","1.0","io.wharf.registry.manifest.push","v1"]' "$ce"
check_eq "its ignore.mediatypes holds the blobs back" 0 \
	"$(jq -r 'select(.path == "/ce-node1") | .json.data.target.mediaType' "$OUT" | grep -c octet-stream)"

# ---- endpoint down: pushes go on -------------------------------------------------
stop_pid "$SINK_PID" 5
t0=$(date +%s%N)
push 2 && push 3
t_result "endpoint down: pushes v2, v3 succeed" $? "$(tail -n 3 "$TMP/push.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
check "endpoint down: the pushes are not held by it (${ms} ms for two)" test "$ms" -lt 15000
check "endpoint down: the events wait in the queue" \
	bash -c "cat '$QDIR'/*.log 2>/dev/null | grep -q '\"tag\":\"v3\"'"

# ---- kill -9 of the whole pool, restart, more requests ----------------------------
kids=$(pgrep -P "$W_PID" | tr '\n' ' ')
kill -9 "$W_PID" $kids 2>/dev/null
stop_pid "$W_NGINX_PID" 5
{ wait "$W_PID"; } 2>/dev/null
rm -f "$W_SOCK"
wharf_start "$ROOT" || { t_fail "registry restarts after kill -9"; exit 1; }
N1_DIR=$W_DIR N1_PID=$W_PID N1_NGINX=$W_NGINX_PID N1_HOST=$W_HOST N1_URL=$W_URL
push 4
t_result "after the restart: push v4" $? "$(tail -n 3 "$TMP/push.err")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/ev/app/manifests/$(cat "$TMP/img2.digest")")
check_eq "after the restart: DELETE of v2's manifest" 202 "$code"

# ---- the endpoint returns ---------------------------------------------------------
sink_start || t_fail "the sink starts again"
{
	for i in 2 3 4; do expect_image "$TMP/img$i" "v$i"; done
	echo "delete $(cat "$TMP/img2.digest") -"
} >"$TMP/want2"
cat "$TMP/want1" "$TMP/want2" >"$TMP/want-all"
wait_for 30 has_all /node1 "$TMP/want-all"
rc=$?
t_result "endpoint back: every event arrives ($(wc -l <"$TMP/want-all") events: 4 pushes, a delete; kill -9 between)" $rc \
	"missing: $(comm -23 <(sort -u "$TMP/want-all") <(got /node1 | sort -u))"
order=$(got /node1 | awk '$3 != "-" || $1 == "delete" { print $1, $3 }' | awk '!seen[$0]++' | tr '\n' ' ')
check_eq "in the order of the requests (manifests, then the delete)" \
	"push v1 push v2 push v3 push v4 delete - " "$order"
ids=$(jq -r 'select(.path == "/node1") | .json.events[].id' "$OUT")
check_eq "every event has its own id" "$(echo "$ids" | wc -l)" "$(echo "$ids" | sort -u | wc -l)"
diag "events received: $(echo "$ids" | wc -l); expected at least $(wc -l <"$TMP/want-all")"

# ---- two nodes on one storage root, one queue each --------------------------------
QDIR=$TMP/q2 NODE=node2 wharf_start "$ROOT" || { t_fail "second node starts"; exit 1; }
push 6
t_result "node 2: push v6" $? "$(tail -n 3 "$TMP/push.err")"
N2_HOST=$W_HOST
W_HOST=$N1_HOST
push 5
t_result "node 1: push v5" $? "$(tail -n 3 "$TMP/push.err")"
expect_image "$TMP/img5" v5 >"$TMP/want5"
expect_image "$TMP/img6" v6 >"$TMP/want6"
wait_for 20 has_all /node1 "$TMP/want5" && wait_for 20 has_all /node2 "$TMP/want6"
t_result "each node delivers the events of the pushes it served" $? \
	"node1: $(got /node1 | tail -n 5)" "node2: $(got /node2)"
got /node2 >"$TMP/node2.got"
check "node 2 sent none of node 1's events" bash -c "! grep -E ' v[1-5]\$' '$TMP/node2.got'"
inst() { jq -r --arg p "$1" 'select(.path == $p) | .json.events[].source.instanceID' "$OUT" | sort -u; }
i1=$(inst /node1 | tail -n 1) i2=$(inst /node2)
check "the nodes' source.instanceID differ ($i1, $i2)" test -n "$i1" -a -n "$i2" -a "$i1" != "$i2"
check_eq "node 2's events all carry one instanceID" 1 "$(echo "$i2" | wc -l)"
wharf_stop
W_DIR=$N1_DIR W_PID=$N1_PID W_NGINX_PID=$N1_NGINX
wharf_stop
e2e_done
