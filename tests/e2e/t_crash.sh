#!/usr/bin/env bash
# A worker killed (SIGKILL) in the middle of an upload: the master respawns
# it, the registry keeps answering, no blob becomes visible, and the whole
# upload retried succeeds byte-identical.
# Then a worker killed at each commit point of a push in turn (strace kills it
# on entry to its Nth rename or link, N = 1, 2, … until a push gets through;
# uploads come as body files that the worker links into place: issue 12): every
# acknowledged step stays readable and byte-identical, no blob is stored
# under a digest its bytes do not have, and the push retried succeeds.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/api_lib.sh"
source "$E2E_DIR/commit_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "worker crash during upload" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "worker crash during upload" "the reference registry has no worker pool"
	exit 0
fi
# Uploads streamed through the workers (bodyfiles: false): the worker must
# be holding the upload while its body arrives. (With body files nginx holds
# it; the worker killed while adopting one is in the commit points below.)
WHARF_E2E_BODYFILES=false WHARF_E2E_WORKERS=3 wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

hdrf() { tr -d '\r' <"$1" | awk -v h="$(echo "$2" | tr 'A-Z' 'a-z')" 'tolower($1) == h":" { sub(/^[^:]*: */, ""); print; exit }'; }
abs() { case $1 in /*) echo "$U$1" ;; *) echo "$1" ;; esac; }

head -c $((6 * 1024 * 1024)) /dev/urandom >"$TMP/blob"
digest=sha256:$(sha256sum <"$TMP/blob" | cut -d' ' -f1)

before=$(wharf_children | tr '\n' ' ')
nw=$(echo $before | wc -w)
[ "$nw" -ge 1 ]
t_result "wharf master has worker children ($before)" $?

curl -s -X POST -D "$TMP/post.h" -o /dev/null "$U/v2/crash/blobs/uploads/"
loc=$(abs "$(hdrf "$TMP/post.h" Location)")
[ -n "$loc" ]
t_result "upload started" $?

# A slow PATCH (200 KB/s): the worker handling it holds the upload open.
curl -s -X PATCH -H 'Content-Type: application/octet-stream' --limit-rate 200k \
	--data-binary @"$TMP/blob" -o "$TMP/patch.body" -w '%{http_code}' "$loc" >"$TMP/patch.code" 2>&1 &
curl_pid=$!
track_pid "$curl_pid"

# The worker holding the upload: one with an open fd into _uploads/, or else
# the one reading the request body (its rchar grows at the curl rate).
rchar() { awk '/^rchar:/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
victim=
for ((i = 0; i < 40; i++)); do
	[ -n "$victim" ] && break
	declare -A r0=()
	for p in $(wharf_children); do r0[$p]=$(rchar "$p"); done
	sleep 0.25
	for p in $(wharf_children); do
		if ls -l "/proc/$p/fd" 2>/dev/null | grep -q '_uploads/'; then
			victim=$p
			how="open fd into _uploads/"
		elif [ -z "$victim" ] && [ $(($(rchar "$p") - ${r0[$p]:-0})) -gt 20000 ]; then
			victim=$p
			how="reading the request body"
		fi
	done
done
if [ -n "$victim" ]; then
	t_ok "found the worker handling the upload (pid $victim, $how)"
	kill -9 "$victim"
	killed=$victim
else
	# Could not tell which worker holds it: kill them all.
	t_fail "found the worker handling the upload (none has an fd in _uploads/ or reads)"
	killed=$(wharf_children | tr '\n' ' ')
	kill -9 $killed 2>/dev/null
fi

wait "$curl_pid" 2>/dev/null
code=$(cat "$TMP/patch.code" 2>/dev/null)
case $code in 2*) t_fail "the interrupted PATCH did not succeed" "got $code" ;;
*) t_ok "the interrupted PATCH did not succeed ($code)" ;; esac

kill -0 "$W_PID" 2>/dev/null
t_result "wharf master still running" $?
after=
for ((i = 0; i < 50; i++)); do
	after=$(wharf_children | tr '\n' ' ')
	[ "$(echo $after | wc -w)" -ge "$nw" ] && break
	sleep 0.1
done
check_eq "master respawned to $nw workers" "$nw" "$(echo $after | wc -w)"
gone=0
for p in $killed; do case " $after " in *" $p "*) gone=1 ;; esac; done
check_eq "killed worker pids are gone" 0 "$gone"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v2/")
check_eq "GET /v2/ after the crash" 200 "$code"
[ ! -e "$(store_blob_path "$W_ROOT" "$digest")" ]
t_result "no blob file for the interrupted upload" $?
code=$(curl -s -o /dev/null -I -w '%{http_code}' "$U/v2/crash/blobs/$digest")
check_eq "HEAD of the interrupted blob -> 404" 404 "$code"

# Retry the whole upload: POST, one PATCH, PUT with the digest.
curl -s -X POST -D "$TMP/post2.h" -o /dev/null "$U/v2/crash/blobs/uploads/"
loc=$(abs "$(hdrf "$TMP/post2.h" Location)")
code=$(curl -s -X PATCH -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/blob" \
	-D "$TMP/patch2.h" -o /dev/null -w '%{http_code}' "$loc")
check_eq "retried PATCH -> 202" 202 "$code"
loc=$(abs "$(hdrf "$TMP/patch2.h" Location)")
sep='?'
case $loc in *\?*) sep='&' ;; esac
code=$(curl -s -X PUT -o /dev/null -w '%{http_code}' "${loc}${sep}digest=$digest")
check_eq "retried upload completes -> 201" 201 "$code"
curl -s -o "$TMP/got" "$U/v2/crash/blobs/$digest"
check "retried blob byte-identical" cmp "$TMP/blob" "$TMP/got"
[ -f "$(store_blob_path "$W_ROOT" "$digest")" ]
t_result "blob stored in the distribution layout" $?

wharf_stop

# ---- kill -9 at each commit point ----
if ! need_cmd strace >/dev/null; then
	t_skip "worker killed at each commit point" "no strace"
	e2e_done
	exit $?
fi
WHARF_E2E_WORKERS=1 wharf_start || { t_fail "registry (one worker) starts"; exit 1; }
U=$W_URL
# one_worker: the pid of the master's one worker, once respawned
one_worker() {
	local i w
	for ((i = 0; i < 100; i++)); do
		w=$(wharf_children)
		[ "$(echo $w | wc -w)" = 1 ] && { echo "$w"; return 0; }
		sleep 0.1
	done
	return 1
}
points=0
done_all=
for ((n = 1; n <= 40; n++)); do
	w=$(one_worker) || { t_fail "worker respawned before kill point $n"; break; }
	strace -qq -o /dev/null -e trace=rename,renameat,renameat2,link,linkat \
		-e inject=rename,renameat,renameat2,link,linkat:signal=SIGKILL:when=$n -p "$w" 2>"$TMP/strace.err" &
	spid=$!
	track_pid "$spid"
	for ((i = 0; i < 50; i++)); do
		[ "$(awk '/^TracerPid:/ {print $2}' "/proc/$w/status" 2>/dev/null)" = "$spid" ] && break
		sleep 0.1
	done
	if [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$w/status" 2>/dev/null)" != "$spid" ]; then
		t_skip "worker killed at each commit point" "strace cannot attach: $(head -n 2 "$TMP/strace.err")"
		done_all=skip
		break
	fi
	push_make "$n"
	if push_run "crash/k$n" v1 "$n"; then
		# fewer renames in a push than n: every commit point has been hit
		kill -INT "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		done_all=$n
		break
	fi
	wait "$spid" 2>/dev/null
	points=$((points + 1))
	acked=$PUSH_ACKED
	diag "kill at rename/link $n: acknowledged:${acked:- none}; failed: $PUSH_FAILED"
	kill -0 "$w" 2>/dev/null && { t_fail "worker $w killed at rename $n"; continue; }
	one_worker >/dev/null || { t_fail "worker respawned after kill at rename $n"; break; }
	# shellcheck disable=SC2086
	check "kill at rename $n: acknowledged steps readable, byte-identical" \
		push_readable "crash/k$n" v1 "$n" $acked
	check "kill at rename $n: every stored blob hashes to its digest" store_blobs_consistent "$W_ROOT"
	push_run "crash/k$n" v1 "$n"
	t_result "kill at rename $n: the push retried succeeds" $? "failed at: $PUSH_FAILED"
	# shellcheck disable=SC2086
	check "kill at rename $n: the retried push readable, byte-identical" \
		push_readable "crash/k$n" v1 "$n" $PUSH_STEPS
done
case $done_all in
skip) ;;
"") t_fail "a push got through once every commit point was hit (40 tried)" ;;
*)
	[ "$points" -ge 12 ]
	t_result "killed at each of $points commit points, then a push got through" $? \
		"a push of commit_lib.sh has at least 12 renames"
	check "after the last push, every stored blob hashes to its digest" store_blobs_consistent "$W_ROOT"
	;;
esac
wharf_stop
e2e_done
