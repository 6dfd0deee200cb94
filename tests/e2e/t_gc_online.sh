#!/usr/bin/env bash
# t_gc_online.sh — online garbage collection while pushes and pulls continue.
# The master runs GC on a schedule (storage.maintenance.gc: every 1s, grace
# period 0 so that only the re-checks and the quarantine protect new data).
# The workload is built to hit GC's classic race: an image is pushed, its
# manifest deleted (its blobs become garbage), then the same image pushed
# again under another tag — the client HEADs the blobs, may find them and
# skip their upload, and PUTs a manifest naming them while GC sweeps. Pulls of
# earlier tags run at the same time. At the end every surviving tag is pulled
# and must be byte-identical to its source; GC must have deleted garbage.
source "$(dirname "$0")/lib.sh"
e2e_init
need=$(need_cmd skopeo curl) || { t_skip "online gc" "$need"; e2e_done; exit; }

N=${WHARF_GC_ONLINE_N:-10}
export REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED=true
export REGISTRY_STORAGE_MAINTENANCE_GC_INTERVAL=1s
export REGISTRY_STORAGE_MAINTENANCE_GC_GRACEPERIOD=0s
WHARF_E2E_LOGLEVEL=info wharf_start || { t_fail "wharf starts"; e2e_done; exit; }
unset REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED REGISTRY_STORAGE_MAINTENANCE_GC_INTERVAL \
	REGISTRY_STORAGE_MAINTENANCE_GC_GRACEPERIOD

for i in $(seq 1 "$N"); do
	mkimage "$TMP/img$i" --layers 2 --size 3000 --seed "online-$i" >"$TMP/img$i.digest"
	mkimage "$TMP/junk$i" --layers 1 --size 2000 --seed "junk-$i" >"$TMP/junk$i.digest"
done

# pulls of the tags pushed so far, until the pushes end
: >"$TMP/pull-fail"
(
	j=0
	while [ ! -f "$TMP/push-done" ]; do
		for t in $(cat "$TMP/kept" 2>/dev/null); do
			j=$((j + 1))
			rm -rf "$TMP/p$j"
			t1=$(date +%T.%N)
			if ! skopeo_copy "docker://$W_HOST/on/a:$t" "oci:$TMP/p$j:x" 2>"$TMP/pull.err"; then
				# which pull, when, and what the registry said
				echo "pull $t failed" >>"$TMP/pull-fail"
				echo "pull $t ($t1 - $(date +%T.%N)): $(tr '\n' ' ' <"$TMP/pull.err")" >>"$TMP/pull-fail.log"
			fi
			rm -rf "$TMP/p$j"
			[ -f "$TMP/push-done" ] && break
		done
		sleep 0.2
	done
) &
puller=$!
track_pid "$puller"

: >"$TMP/push-fail"
: >"$TMP/push.log"
# push SRC TAG NAME: with grace period 0, a push fails (MANIFEST_BLOB_UNKNOWN)
# when a run quarantines its blobs between their upload (or the HEAD that
# found them) and the manifest PUT: any blob older than the run's start and
# not yet referenced is garbage then. The client's answer, retried, uploads
# them again.
push() {
	local try
	for try in 1 2 3 4; do
		skopeo_copy "$1" "docker://$W_HOST/$2" 2>"$TMP/push.err" && return 0
		echo "push $3 try $try ($(date +%T.%N)): $(tr '\n' ' ' <"$TMP/push.err")" >>"$TMP/push.log"
		sleep 1
	done
	echo "push $3: $(tail -n 1 "$TMP/push.log")" >>"$TMP/push-fail"
	return 1
}
for i in $(seq 1 "$N"); do
	dg=$(cat "$TMP/img$i.digest")
	push "oci:$TMP/img$i:latest" "on/a:d$i" "d$i"
	curl -sf -X DELETE "$W_URL/v2/on/a/manifests/$dg" >/dev/null || echo "delete d$i" >>"$TMP/push-fail"
	# pure garbage: pushed, deleted, never used again
	push "oci:$TMP/junk$i:latest" "on/junk:g$i" "g$i"
	curl -sf -X DELETE "$W_URL/v2/on/junk/manifests/$(cat "$TMP/junk$i.digest")" >/dev/null ||
		echo "delete g$i" >>"$TMP/push-fail"
	sleep 0.$((RANDOM % 5))
	# the same blobs again: HEAD may find them (garbage now) and skip the
	# upload; the manifest PUT may then race a run's quarantine (a pull of the
	# pushed tag right after must still work: the puller above)
	push "oci:$TMP/img$i:latest" "on/a:k$i" "k$i" && echo "k$i" >>"$TMP/kept"
done
touch "$TMP/push-done"
wait "$puller"
[ -s "$TMP/push-fail" ] && t_fail "every push succeeded" "$(cat "$TMP/push-fail")" ||
	t_ok "every push succeeded ($N pushed twice, $N deleted; $(wc -l <"$TMP/push.log") retries)"
[ -s "$TMP/pull-fail" ] && t_fail "every pull during GC succeeded" "$(sort "$TMP/pull-fail" | uniq -c)" \
	"$(tail -n 5 "$TMP/pull-fail.log")" "$(grep -E '"GET [^"]*" (404|5[0-9][0-9]) ' "$W_DIR/nginx-access.log" | tail -n 10)" \
	"$(grep -E 'garbage collection|gc:|ERROR' "$W_DIR/wharf.log" | tail -n 10)" ||
	t_ok "every pull during GC succeeded"
sleep 3 # one more scheduled run after the last push

# every surviving image, byte-identical
bad=""
for t in $(cat "$TMP/kept"); do
	i=${t#k}
	rm -rf "$TMP/final"
	if ! skopeo_copy "docker://$W_HOST/on/a:$t" "oci:$TMP/final:x" >"$TMP/final.log" 2>&1; then
		bad="$bad $t(pull: $(tail -c 200 "$TMP/final.log"))"
		continue
	fi
	blobs_same "$TMP/img$i" "$TMP/final" >/dev/null || bad="$bad $t(differs)"
done
[ -z "$bad" ] && t_ok "every pushed image pulls byte-identical after online GC ($(wc -l <"$TMP/kept") images)" ||
	t_fail "every pushed image pulls byte-identical after online GC" "$bad"
# the deleted ones are gone, their blobs too
gone=0
for i in $(seq 1 "$N"); do
	curl -sf -o /dev/null "$W_URL/v2/on/a/manifests/d$i" || gone=$((gone + 1))
done
check_eq "deleted tags stay deleted" "$N" "$gone"
# read-only mode (by reload) stops scheduling; the run in progress ends and
# must leave no quarantined file and no journal behind
sed -i 's/^storage:$/storage:\n  maintenance:\n    readonly:\n      enabled: true/' "$W_DIR/config.yml"
kill -HUP "$W_PID"
for i in $(seq 1 150); do
	rest=$(find "$W_ROOT" -name 'data.wharf-gc' -o -name quarantine -path '*_wharf_gc*' | wc -l)
	# no task child left: only the workers are the master's children
	[ "$rest" = 0 ] && [ "$(wharf_children | wc -l)" -le "${WHARF_E2E_WORKERS:-4}" ] && break
	sleep 0.1
done
check_eq "no quarantined file or journal left behind" 0 "$rest"
runs=$(grep -c 'garbage collection: ' "$W_DIR/wharf.log")
deleted=$(grep -o 'garbage collection: .*' "$W_DIR/wharf.log" | grep -o '[0-9]* blobs deleted' | awk '{s += $1} END {print s + 0}')
check "the master ran GC on its schedule ($runs runs)" test "$runs" -ge 2
check "GC deleted the garbage of deleted manifests ($deleted blobs)" test "$deleted" -gt 0
check "no GC task failed" bash -c "! grep -E 'garbage collection: task .*(failed|killed)|garbage collection: [a-z ]*error' '$W_DIR/wharf.log'"
# The state a run leaves while it settles when a push raced its re-check: an
# image committed, its blobs (manifest, config, layers) renamed to
# data.wharf-gc until the final re-check puts them back. A pull must work
# then (GET streams the quarantined data; nginx's alias has no file); a HEAD,
# which decides whether a pusher uploads, still says 404. GC is paused now.
q=""
for b in "$TMP/img1/blobs/sha256/"*; do
	d=$(find "$W_ROOT" -path "*/blobs/sha256/*/${b##*/}/data")
	[ -n "$d" ] && mv "$d" "${d%data}data.wharf-gc" && q="$q ${d%data}"
done
rm -rf "$TMP/qpull"
what="a pull while GC holds the image's blobs in quarantine works ($(echo $q | wc -w) blobs)"
if skopeo_copy "docker://$W_HOST/on/a:k1" "oci:$TMP/qpull:x" >"$TMP/qpull.log" 2>&1; then
	check "$what" blobs_same "$TMP/img1" "$TMP/qpull"
else
	t_fail "$what" "$(tail -n 3 "$TMP/qpull.log")" "$(grep -E '"GET [^"]*" 404 ' "$W_DIR/nginx-access.log" | tail -n 3)"
fi
layer=$(jq -r '.layers[0].digest' "$TMP/img1/blobs/sha256/$(cat "$TMP/img1.digest" | cut -d: -f2)")
check_eq "a HEAD of a quarantined blob says 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -I "$W_URL/v2/on/a/blobs/$layer")"
for d in $q; do mv "${d}data.wharf-gc" "${d}data"; done
wharf_stop
e2e_done
