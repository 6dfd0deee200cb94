#!/usr/bin/env bash
# Slow uploads never starve the pool (issue 12): twice as many clients as
# Wharf has workers trickle upload bodies (monolithic POSTs with a length,
# chunked PATCHes) and manifest bodies through nginx, while another client
# pulls a manifest and a blob. nginx receives the bodies (into body files,
# and buffers manifests) before a worker sees them, so the pull must take
# about what it takes on an idle registry. With uploads streamed through
# the workers (WHARF_E2E_BODYFILES=false, the configuration before issue 12)
# every worker is held by a slow client and the pull times out: this test
# fails there (checked).
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx sha256sum "$PYTHON"); then
	t_skip "slow uploads" "$why"
	exit 0
fi
WORKERS=${WHARF_E2E_WORKERS:-4}
WHARF_E2E_WORKERS=$WORKERS wharf_start || { t_fail "registry starts"; exit 1; }

# a small image to pull: one blob, one manifest
head -c 200000 /dev/urandom >"$TMP/layer"
L="sha256:$(sha256sum "$TMP/layer" | cut -d' ' -f1)"
printf '{}' >"$TMP/config"
C="sha256:$(sha256sum "$TMP/config" | cut -d' ' -f1)"
for f in layer config; do
	d="sha256:$(sha256sum "$TMP/$f" | cut -d' ' -f1)"
	curl -s -o /dev/null -X POST -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TMP/$f" "$W_URL/v2/pull/me/blobs/uploads/?digest=$d"
done
cat >"$TMP/manifest" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$C","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$L","size":200000}]}
JSON
c=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	--data-binary @"$TMP/manifest" "$W_URL/v2/pull/me/manifests/v1")
check_eq "image pushed" 201 "$c"

# pull: the manifest and the blob, the slower of the two in ms ("fail" when
# either failed or took more than 20 s)
pull() {
	local t1 t2
	t1=$(curl -s -f -o /dev/null -m 20 -w '%{time_total}' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$W_URL/v2/pull/me/manifests/v1") || { echo fail; return; }
	t2=$(curl -s -f -L -o /dev/null -m 20 -w '%{time_total}' "$W_URL/v2/pull/me/blobs/$L") || { echo fail; return; }
	awk -v a="$t1" -v b="$t2" 'BEGIN { m = a > b ? a : b; printf "%d\n", m * 1000 }'
}
idle=0
for _ in 1 2 3 4 5; do
	t=$(pull)
	[ "$t" = fail ] && { t_fail "pull on the idle registry"; exit 1; }
	[ "$t" -gt "$idle" ] && idle=$t
done
diag "idle pull (manifest + blob): at most $idle ms"

slow=$((WORKERS * 2))
"$PYTHON" "$E2E_DIR/fixtures/trickle.py" 127.0.0.1 "${W_HOST##*:}" slow/pusher "$slow" 2 40 >"$TMP/trickle.out" 2>&1 &
TPID=$!
track_pid "$TPID"
for _ in $(seq 100); do grep -q ready "$TMP/trickle.out" && break; sleep 0.1; done
check "$slow slow uploads and 2 slow manifest PUTs are sending" grep -q "ready $((slow + 2))" "$TMP/trickle.out"
sleep 2 # past any start-up: the slow bodies have been arriving for a while
worst=0
failed=0
for _ in 1 2 3 4 5; do
	t=$(pull)
	if [ "$t" = fail ]; then
		failed=$((failed + 1))
		continue
	fi
	[ "$t" -gt "$worst" ] && worst=$t
done
diag "pull beside $slow slow uploads: at most $worst ms, $failed of 5 failed or took over 20 s"
# generous: 10x the idle time plus 1 s (a loaded CI host), far below the
# 20 s a pull waits for a worker that a slow client holds
limit=$((idle * 10 + 1000))
check_eq "no pull failed (each may wait 20 s)" 0 "$failed"
check "every pull within ${limit} ms (idle ${idle} ms x 10 + 1 s)" test "$worst" -le "$limit"
stop_pid "$TPID" 5
wharf_stop
e2e_done
