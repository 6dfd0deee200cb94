#!/usr/bin/env bash
# A worker killed (SIGKILL) in the middle of an upload: the master respawns
# it, the registry keeps answering, no blob becomes visible, and the whole
# upload retried succeeds byte-identical.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "worker crash during upload" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "worker crash during upload" "the reference registry has no worker pool"
	exit 0
fi
WHARF_E2E_WORKERS=3 wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

hdr() { tr -d '\r' <"$1" | awk -v h="$(echo "$2" | tr 'A-Z' 'a-z')" 'tolower($1) == h":" { sub(/^[^:]*: */, ""); print; exit }'; }
abs() { case $1 in /*) echo "$U$1" ;; *) echo "$1" ;; esac; }

head -c $((6 * 1024 * 1024)) /dev/urandom >"$TMP/blob"
digest=sha256:$(sha256sum <"$TMP/blob" | cut -d' ' -f1)

before=$(wharf_children | tr '\n' ' ')
nw=$(echo $before | wc -w)
[ "$nw" -ge 1 ]
t_result "wharf master has worker children ($before)" $?

curl -s -X POST -D "$TMP/post.h" -o /dev/null "$U/v2/crash/blobs/uploads/"
loc=$(abs "$(hdr "$TMP/post.h" Location)")
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
loc=$(abs "$(hdr "$TMP/post2.h" Location)")
code=$(curl -s -X PATCH -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/blob" \
	-D "$TMP/patch2.h" -o /dev/null -w '%{http_code}' "$loc")
check_eq "retried PATCH -> 202" 202 "$code"
loc=$(abs "$(hdr "$TMP/patch2.h" Location)")
sep='?'
case $loc in *\?*) sep='&' ;; esac
code=$(curl -s -X PUT -o /dev/null -w '%{http_code}' "${loc}${sep}digest=$digest")
check_eq "retried upload completes -> 201" 201 "$code"
curl -s -o "$TMP/got" "$U/v2/crash/blobs/$digest"
check "retried blob byte-identical" cmp "$TMP/blob" "$TMP/got"
[ -f "$(store_blob_path "$W_ROOT" "$digest")" ]
t_result "blob stored in the distribution layout" $?

wharf_stop
e2e_done
