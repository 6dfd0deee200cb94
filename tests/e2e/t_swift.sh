#!/usr/bin/env bash
# Swift storage (issue 15) end to end, on a real OpenStack Swift all-in-one
# (native API, TempAuth) started here: skopeo push/pull through nginx + Wharf
# on storage.swift, blob GETs answered 307 to a TempURL Swift honours (a
# changed signature: 401), a chunked upload whose PATCHes cross the segment
# size, streaming with Range when storage.redirect is disabled, and the
# reference registry (docker-registry 2.8.2, its own swift driver) on the same
# container and prefix both ways; Wharf's garbage collection of an image the
# reference pushed leaves none of the reference's DLO segments behind.
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/storage/swift_lib.sh
source "$REPO/tests/storage/swift_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl swift-proxy-server memcached); then
	t_skip "swift storage" "$why"
	exit 0
fi
at_exit swift_stop
swift_start "$TMP/swift" || {
	t_fail "swift starts" "$(tail -n 20 "$TMP"/swift/log/*.log 2>/dev/null)"
	exit 1
}
CONTAINER=wharf-e2e-swift
SWIFT_YML="  swift:
    authurl: $SWIFT_ENDPOINT/auth/v1.0
    username: test:tester
    password: testing
    container: $CONTAINER
    prefix: /e2e
    secretkey: e2e-tempurl-key
    chunksize: 5242880"

# sw_wharf NAME [yaml under storage:]: Wharf on the container behind nginx; sets S_*.
sw_wharf() {
	local name=$1 extra=${2:-}
	S_DIR=$TMP/$name
	mkdir -p "$S_DIR"
	chmod 755 "$S_DIR"
	local port
	port=$(free_port) || return 1
	S_HOST=127.0.0.1:$port
	cat >"$S_DIR/config.yml" <<EOT
version: 0.1
log:
  level: ${SW_LOG_LEVEL:-info}
storage:
$SWIFT_YML
  delete:
    enabled: true
$extra
http:
  secret: e2e-swift-shared-secret
fastcgi:
  listen: unix:$S_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $S_DIR/wharf.pid
EOT
	S_BODYDIR=
	if [ "${WHARF_E2E_BODYFILES:-true}" != false ]; then
		S_BODYDIR=$S_DIR/body
		printf '  uploads:\n    bodydir: %s\n' "$S_BODYDIR" >>"$S_DIR/config.yml"
	fi
	"$WHARF_BIN" serve -c "$S_DIR/config.yml" >"$S_DIR/wharf.log" 2>&1 </dev/null &
	S_PID=$!
	track_pid "$S_PID"
	for _ in $(seq 100); do [ -S "$S_DIR/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$S_DIR" "$S_HOST" "$S_DIR/wharf.sock" "$S_DIR" "$S_BODYDIR" || return 1
	nginx_start "$S_DIR" || return 1
	S_NGINX=$NGINX_PID
	wait_http "http://$S_HOST/v2/" "$S_NGINX" 20 || {
		diag "$(tail -n 20 "$S_DIR/wharf.log")"
		return 1
	}
}
sw_wharf_stop() {
	stop_pid "$S_NGINX" 5
	stop_pid "$S_PID" 15
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$S_DIR/wharf.log"; then
		t_fail "no worker crashed ($S_DIR)" "$(grep 'killed by signal' "$S_DIR/wharf.log" | head -n 3)"
	fi
}

# swift_objects: "name bytes manifest" of every object of the container
# (manifest "-" when none), through Swift's own API
swift_objects() {
	/usr/bin/python3 - "$SWIFT_ENDPOINT" "$CONTAINER" <<'PY'
import json, sys, urllib.request, urllib.parse
ep, ct = sys.argv[1], sys.argv[2]
r = urllib.request.urlopen(urllib.request.Request(ep + "/auth/v1.0", headers={
    "X-Storage-User": "test:tester", "X-Storage-Pass": "testing"}))
tok, url = r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]
h = {"X-Auth-Token": tok}
marker, names = "", []
while True:
    q = urllib.parse.urlencode({"format": "json", "marker": marker})
    page = json.load(urllib.request.urlopen(urllib.request.Request(f"{url}/{ct}?{q}", headers=h)))
    if not page:
        break
    names += page
    marker = page[-1]["name"]
for o in names:
    m = "-"
    if o["bytes"] == 0:
        req = urllib.request.Request(f"{url}/{ct}/" + urllib.parse.quote(o["name"]), method="HEAD", headers=h)
        m = urllib.request.urlopen(req).headers.get("X-Object-Manifest") or "-"
    print(o["name"], o["bytes"], m)
PY
}
# orphan_segments: how many segment objects no manifest names
orphan_segments() {
	swift_objects | awk -v ct="$CONTAINER/" '
		$3 != "-" { sub("^" ct, "", $3); m[$3 "/"] = 1 }
		$1 ~ /^e2e\/segments\// { seg[$1] = 1 }
		END { n = 0; for (s in seg) { ok = 0; for (p in m) if (index(s, p) == 1) ok = 1; if (!ok) n++ } print n }'
}

# --- a container not there yet, and a POST first -------------------------------------
# A worker's first session sets the container up (on its warm-up thread or
# its first request, whichever comes first); a POST puts its two files side
# by side, so every thread beside the one creating the container waits for
# it (one met a 404 and the POST answered 500). Each of the three workers' first.
SW_MAIN_YML=$SWIFT_YML
SWIFT_YML=${SWIFT_YML/container: $CONTAINER/container: $CONTAINER-fresh}
if sw_wharf fresh; then
	codes=""
	for _ in 1 2 3 4 5 6; do
		codes="$codes $(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$S_HOST/v2/fresh/img/blobs/uploads/")"
	done
	check_eq "POSTs first on a container not there yet: every one 202" " 202 202 202 202 202 202" "$codes"
	sw_wharf_stop
else
	t_fail "wharf on a container not there yet starts" "$(tail -n 20 "$TMP/fresh/wharf.log")"
fi
SWIFT_YML=$SW_MAIN_YML

# --- a set-up that fails -----------------------------------------------------------------
# A user Swift authenticates but lets touch nothing: every worker's set-up
# (the container's HEAD first) fails. It is tried again after 5 s, not by
# every request meanwhile (each one redid it, one thread at a time).
SWIFT_YML=${SWIFT_YML/username: test:tester/username: test:nobody}
SWIFT_YML=${SWIFT_YML/password: testing/password: nothing}
if SW_LOG_LEVEL=debug sw_wharf nobody; then
	for _ in 1 2 3 4 5 6 7 8 9; do
		curl -s -o /dev/null -I "http://$S_HOST/v2/nb/img/blobs/sha256:$(printf '%064d' 0)"
	done
	heads=$(grep -c "swift: HEAD [^ ]*/v1/AUTH_test/$CONTAINER: HTTP 403" "$S_DIR/wharf.log")
	check "a failing set-up: at most one try per worker (3) for 9 requests within 5 s ($heads)" \
		test "$heads" -le 3
	sw_wharf_stop
else
	t_fail "wharf as a user Swift lets touch nothing starts" "$(tail -n 20 "$TMP/nobody/wharf.log")"
fi
SWIFT_YML=$SW_MAIN_YML

SW_LOG_LEVEL=debug sw_wharf w1 || { t_fail "wharf on swift starts" "$(tail -n 20 "$TMP/w1/wharf.log")"; exit 1; }
R=$S_HOST
t_ok "wharf on swift starts (it creates the container)"
# each worker makes its first Swift session (a token, the container and the
# TempURL key checked) on a thread as it starts (storage_warm), not on its
# first request; nothing has touched the storage yet (GET /v2/ does not)
auths() { grep -c 'swift: GET [^ ]*/auth/v1.0: HTTP 200' "$S_DIR/wharf.log"; }
three_auths() { [ "$(auths)" -ge 3 ]; }
wait_for 10 three_auths
t_result "each of the 3 workers authenticated as it started, before any request" $? \
	"$(auths) authentications"

# --- skopeo push / pull -----------------------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 3000000 --compress none --seed swift-e2e >"$TMP/src.digest"
check "push an image (3 layers of 3 MB) to swift" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/sw/img:v1 --preserve-digests
check "pull it back (blobs via 307 to TempURLs)" \
	skopeo_copy docker://$R/sw/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "pulled blobs byte-identical" blobs_same "$TMP/src" "$TMP/back"

man=$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")
layer=$(jq -r '.layers[0].digest' "$man")
lsize=$(jq -r '.layers[0].size' "$man")
hdr=$(curl -s -o /dev/null -D - "http://$R/v2/sw/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" "307" "$(echo "$hdr" | awk 'NR==1{print $2}')"
loc=$(echo "$hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
case $loc in "$SWIFT_ENDPOINT"/v1/AUTH_test/$CONTAINER/e2e/files/docker/registry/v2/blobs/sha256/*/data\?temp_url_sig=*) t_ok "Location is a TempURL of the blob in the reference's layout" ;;
*) t_fail "Location is a TempURL of the blob in the reference's layout" "$loc" ;; esac
check_eq "the TempURL serves the blob" "${layer#sha256:}" "$(curl -s "$loc" | sha256sum | cut -d' ' -f1)"
bad=$(echo "$loc" | sed -E 's/temp_url_sig=(.)/temp_url_sig=\1x/; s/temp_url_sig=(.)x./temp_url_sig=\1/')
case $loc in *temp_url_sig=0*) bad=${loc/temp_url_sig=0/temp_url_sig=1} ;; *) bad=$(echo "$loc" | sed -E 's/temp_url_sig=./temp_url_sig=0/') ;; esac
check_eq "a changed signature is refused by Swift" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$bad")"
h=$(curl -s -I "http://$R/v2/sw/img/blobs/$layer" | tr -d '\r')
check_eq "blob HEAD answered by Wharf (200)" 200 "$(echo "$h" | awk 'NR==1{print $2}')"
check_eq "blob HEAD Content-Length" "$lsize" "$(echo "$h" | awk -F': ' 'tolower($1)=="content-length"{print $2}')"

# --- a chunked upload across segments -------------------------------------------------
head -c $((6 * 1024 * 1024 + 11)) /dev/urandom >"$TMP/c1"
head -c 3 /dev/urandom >"$TMP/c2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/c3"
cat "$TMP/c1" "$TMP/c2" "$TMP/c3" >"$TMP/chunked"
dg=sha256:$(sha256sum <"$TMP/chunked" | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -D - -X POST "http://$R/v2/sw/chunked/blobs/uploads/" | tr -d '\r' |
	awk -F': ' 'tolower($1)=="location"{print $2}')
off=0 ok=1
for c in c1 c2 c3; do
	sz=$(stat -c %s "$TMP/$c")
	[ "${loc#http}" = "$loc" ] && loc=http://$R$loc
	out=$(curl -s -o /dev/null -D - -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $off-$((off + sz - 1))" --data-binary @"$TMP/$c" "$loc" | tr -d '\r')
	[ "$(echo "$out" | awk 'NR==1{print $2}')" = 202 ] || ok=0
	off=$((off + sz))
	[ "$(echo "$out" | awk -F': ' 'tolower($1)=="range"{print $2}')" = "0-$((off - 1))" ] || ok=0
	loc=$(echo "$out" | awk -F': ' 'tolower($1)=="location"{print $2}')
done
t_result "3 PATCHes (6 MiB+11, 3 B, 5 MiB) accepted with the right Range" $((1 - ok))
up_id=${loc##*/uploads/}
up_id=${up_id%%\?*}
[ "${loc#http}" = "$loc" ] && loc=http://$R$loc
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "PUT ?digest commits the chunked upload" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$dg")"
check_eq "the committed blob reads back (via the redirect)" "${dg#sha256:}" \
	"$(curl -s -L "http://$R/v2/sw/chunked/blobs/$dg" | sha256sum | cut -d' ' -f1)"
blobobj=$(swift_objects | awk -v h="${dg#sha256:}" '$1 ~ h "/data$" {print $3}')
case $blobobj in "$CONTAINER"/e2e/segments/*) t_ok "the blob is a DLO over e2e/segments/ (as the reference writes)" ;;
*) t_fail "the blob is a DLO over e2e/segments/ (as the reference writes)" "$blobobj" ;; esac
check_eq "no orphan segments after Wharf's uploads" 0 "$(orphan_segments)"
# the requests of that upload (log level debug: a line per Swift request):
# its data is looked at once while each lock settles; the writer and the
# move reuse that (storage/drivers/swift.c, the memo), an append waits for
# the segment listing rather than HEADing the manifest, the POST creates it
# without a probe
data_heads() { grep -c "swift: HEAD [^ ]*/_uploads/$up_id/data: " "$S_DIR/wharf.log"; }
check_eq "the chunked upload's data was HEADed 4 times (once per PATCH and PUT)" 4 \
	"$(data_heads)"
# an append's segments are listed while the lock settles (prepare_append),
# not after the lock's read-back: the Swift request following that read-back
# (in the same worker) is never a listing of segments
lists_after_lock() {
	awk -v id="$up_id" '
		/swift: / { match($0, /pid=[0-9]+/); p = substr($0, RSTART, RLENGTH)
			if (after[p] && $0 ~ /prefix=e2e%2Fsegments%2F/) n++
			after[p] = ($0 ~ ("swift: GET [^ ]*/wharf/locks/uploads/" id ": HTTP 200")) }
		END { print n + 0 }' "$S_DIR/wharf.log"
}
check_eq "no segment listing after an upload lock's read-back (listed while it settled)" 0 \
	"$(lists_after_lock)"
# a committed upload's files and lock go after the answer (storage/registry.c)
upload_leftovers() {
	swift_objects | awk '$1 ~ /\/_uploads\// || $1 ~ /wharf\/locks\/uploads\// {print $1}'
}
no_upload_leftovers() { [ -z "$(upload_leftovers)" ]; }
wait_for 5 no_upload_leftovers
t_result "no upload files nor upload locks left after the commits" $? "$(upload_leftovers | head -n 5)"
sw_wharf_stop

# --- redirect disabled: the worker streams, Range supported --------------------------------
sw_wharf w2 "  redirect:
    disable: true" || t_fail "wharf (redirect disabled) starts"
R=$S_HOST
check_eq "redirect disabled: blob GET streams (200) the right bytes" "${layer#sha256:}" \
	"$(curl -s "http://$R/v2/sw/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
want=$(tail -c +101 "$TMP/src/blobs/sha256/${layer#sha256:}" | head -c 100 | sha256sum | cut -d' ' -f1)
check_eq "Range 100-199 bytes" "$want" \
	"$(curl -s -H 'Range: bytes=100-199' "http://$R/v2/sw/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
check "redirect disabled: skopeo pulls" \
	skopeo_copy docker://$R/sw/img:v1 oci:"$TMP/back2":v1 --preserve-digests
check "byte-identical" blobs_same "$TMP/src" "$TMP/back2"
mkimage "$TMP/src2" --tag v1 --layers 2 --size 7000000 --compress none --seed swift-e2e2 >/dev/null
check "redirect disabled: skopeo pushes (7 MB layers: 2 segments each)" \
	skopeo_copy oci:"$TMP/src2":v1 docker://$R/sw/img2:v1 --preserve-digests
EMPTY=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
loc=$(curl -s -o /dev/null -D - -X POST "http://$R/v2/sw/img2/blobs/uploads/" | tr -d '\r' |
	awk -F': ' 'tolower($1)=="location"{print $2}')
[ "${loc#http}" = "$loc" ] && loc=http://$R$loc
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "the empty blob uploads (POST, PUT ?digest with no body)" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Length: 0' "$loc${sep}digest=$EMPTY")"
check_eq "it is a plain empty object, not a DLO" "0 -" \
	"$(swift_objects | awk -v h="${EMPTY#sha256:}" '$1 ~ h "/data$" {print $2, $3}')"
check "and pulls it back byte-identical" \
	skopeo_copy docker://$R/sw/img2:v1 oci:"$TMP/back3":v1 --preserve-digests
check "byte-identical" blobs_same "$TMP/src2" "$TMP/back3"
sw_wharf_stop

# --- requests for one upload racing each other ---------------------------------------------
# t_upload_race.sh's rounds: on Swift the upload's lease lock is a conditional
# create read back after its settle; no committed blob may hold bytes that are
# not its digest's. Under a prefix of their own (the GC below counts blobs).
SW_MAIN_YML=$SWIFT_YML
SWIFT_YML=${SWIFT_YML/prefix: \/e2e/prefix: /e2e-race}
if sw_wharf race "  redirect:
    disable: true"; then
	out=$("$PYTHON" "$E2E_DIR/fixtures/upload_race.py" "http://$S_HOST" \
		"${WHARF_SWIFT_RACE_ROUNDS:-30}" $((256 * 1024)) 2>&1)
	t_result "racing requests on one upload: every committed blob hashes to its digest" $? \
		"$(echo "$out" | tail -n 25)"
	diag "$(echo "$out" | tail -n 1)"
	check "blobs were committed (the rounds reached commits)" \
		test "$(echo "$out" | tail -n 1 | sed -n 's/.* committed \([0-9]*\) .*/\1/p')" -gt 5
	sw_wharf_stop
else
	t_fail "wharf for the racing rounds starts" "$(tail -n 20 "$TMP/race/wharf.log")"
fi
SWIFT_YML=$SW_MAIN_YML

# --- the reference registry on the same container and prefix ------------------------------
if command -v docker-registry >/dev/null 2>&1; then
	RP=$(free_port)
	cat >"$TMP/ref.yml" <<EOT
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
$SWIFT_YML
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$RP
  secret: e2e-swift-shared-secret
EOT
	docker-registry serve "$TMP/ref.yml" >"$TMP/ref.log" 2>&1 </dev/null &
	REF_PID=$!
	track_pid "$REF_PID"
	if wait_http "http://127.0.0.1:$RP/v2/" "$REF_PID" 20; then
		check "the reference registry pulls Wharf's image from the container" \
			skopeo_copy docker://127.0.0.1:$RP/sw/img2:v1 oci:"$TMP/refback":v1 --preserve-digests
		check "byte-identical" blobs_same "$TMP/src2" "$TMP/refback"
		check_eq "the reference serves Wharf's chunked blob" "${dg#sha256:}" \
			"$(curl -s -L "http://127.0.0.1:$RP/v2/sw/chunked/blobs/$dg" | sha256sum | cut -d' ' -f1)"
		check_eq "the reference serves Wharf's empty blob (at once)" "200 0" \
			"$(curl -s -L -m 10 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$RP/v2/sw/img2/blobs/$EMPTY")"
		mkimage "$TMP/src3" --tag v1 --layers 2 --size 6000000 --compress none --seed swift-ref >"$TMP/src3.digest"
		check "the reference registry pushes an image (6 MB layers)" \
			skopeo_copy oci:"$TMP/src3":v1 docker://127.0.0.1:$RP/sw/fromref:v1 --preserve-digests
		stop_pid "$REF_PID" 5
		sw_wharf w3 || t_fail "wharf starts again"
		R=$S_HOST
		check "Wharf pulls the reference's image from the container (TempURL redirects)" \
			skopeo_copy docker://$R/sw/fromref:v1 oci:"$TMP/fromref":v1 --preserve-digests
		check "byte-identical" blobs_same "$TMP/src3" "$TMP/fromref"
		# Wharf's GC removes the reference's DLOs with their segments
		man3=$TMP/src3/blobs/sha256/$(cut -d: -f2 <"$TMP/src3.digest")
		swift_objects >"$TMP/objs1"
		segs=()
		for b in $(jq -r '.config.digest, .layers[].digest' "$man3"); do
			segs+=("$(awk -v h="${b#sha256:}" -v ct="$CONTAINER/" '$1 ~ h "/data$" {sub("^" ct, "", $3); print $3 "/"}' "$TMP/objs1")")
		done
		count_under() { local n=0 p; for p in "${segs[@]}"; do n=$((n + $(grep -c "^$p" "$1"))); done; echo "$n"; }
		check_eq "the reference wrote its blobs as DLOs (2 segments per 6 MB layer, 1 for the config)" 5 "$(count_under "$TMP/objs1")"
		check "delete the reference's image manifest through Wharf" \
			curl -sf -o /dev/null -X DELETE "http://$R/v2/sw/fromref/manifests/$(cat "$TMP/src3.digest")"
		"$WHARF_BIN" garbage-collect "$S_DIR/config.yml" >"$TMP/gc.log" 2>&1
		check_eq "garbage collection on swift runs" 0 "$?"
		# the image's 3 blobs and its manifest, the unreferenced chunked and empty blobs
		check "it deleted 6 blobs" grep -q "and 6 blobs deleted" "$TMP/gc.log"
		swift_objects >"$TMP/objs2"
		check_eq "the reference's segments went with its blobs" 0 "$(count_under "$TMP/objs2")"
		check_eq "no orphan segments" 0 "$(orphan_segments)"
		check "the other images still pull" \
			skopeo_copy docker://$R/sw/img2:v1 oci:"$TMP/back4":v1 --preserve-digests
		check "byte-identical" blobs_same "$TMP/src2" "$TMP/back4"
		sw_wharf_stop
	else
		t_fail "the reference registry starts on swift" "$(tail -n 10 "$TMP/ref.log")"
	fi
	stop_pid "$REF_PID" 5
else
	t_skip "the reference registry on the same container" "docker-registry not installed"
fi
e2e_done
