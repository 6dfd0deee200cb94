#!/usr/bin/env bash
# S3 storage (issue 7) end to end, on a real OpenStack Swift with s3api
# (SigV4 verified, multipart) and a real redis-server, both started here:
# skopeo push/pull through nginx + Wharf on storage.s3, blob GETs answered
# 307 to a presigned URL the store honours, a chunked upload whose PATCHes
# cross the 5 MiB part size, streaming with Range when storage.redirect is
# disabled, the Redis blob-descriptor cache (filled, kept right when blob
# data is deleted, a Redis outage degrades to storage reads), and the
# reference registry serving the same bucket root both ways.
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/storage/swift_lib.sh
source "$REPO/tests/storage/swift_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl swift-proxy-server memcached redis-server redis-cli); then
	t_skip "s3 storage on swift" "$why"
	exit 0
fi
at_exit swift_stop
swift_start "$TMP/swift" || {
	t_fail "swift starts" "$(tail -n 20 "$TMP"/swift/log/*.log 2>/dev/null)"
	exit 1
}
check "bucket created" swift_bucket wharf-e2e

RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
	>"$TMP/redis.log" 2>&1 </dev/null &
REDIS_PID=$!
track_pid "$REDIS_PID"
RCLI=(redis-cli -h 127.0.0.1 -p "$RPORT")
for _ in $(seq 50); do "${RCLI[@]}" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

# s3_wharf NAME [yaml under storage:]: Wharf on the bucket behind nginx; sets S_*.
s3_wharf() {
	local name=$1 extra=${2:-}
	S_DIR=$TMP/$name
	mkdir -p "$S_DIR"
	chmod 755 "$S_DIR"
	local port
	port=$(free_port) || return 1
	S_HOST=127.0.0.1:$port
	cat >"$S_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: wharf-e2e
    rootdirectory: /e2e/root
    secure: false
    v4auth: true
    chunksize: 5242880
  delete:
    enabled: true
  cache:
    blobdescriptor: redis
$extra
redis:
  addr: 127.0.0.1:$RPORT
  dialtimeout: 200ms
  readtimeout: 200ms
http:
  secret: e2e-s3-shared-secret
fastcgi:
  listen: unix:$S_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $S_DIR/wharf.pid
EOF
	# upload bodies received by nginx into local files that Wharf sends to
	# the store (issue 12), unless WHARF_E2E_BODYFILES=false
	S_BODYDIR=
	if [ "${WHARF_E2E_BODYFILES:-true}" != false ]; then
		S_BODYDIR=$S_DIR/body
		printf '  uploads:\n    bodydir: %s\n' "$S_BODYDIR" >>"$S_DIR/config.yml"
	fi
	AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
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
s3_wharf_stop() {
	stop_pid "$S_NGINX" 5
	stop_pid "$S_PID" 15
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$S_DIR/wharf.log"; then
		t_fail "no worker crashed ($S_DIR)" "$(grep 'killed by signal' "$S_DIR/wharf.log" | head -n 3)"
	fi
}

s3_wharf w1 || { t_fail "wharf on s3 starts" "$(tail -n 20 "$TMP/w1/wharf.log")"; exit 1; }
R=$S_HOST
t_ok "wharf on s3 (swift s3api) starts"

# --- skopeo push / pull -----------------------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 3000000 --compress none --seed s3-e2e >"$TMP/src.digest"
check "push an image (3 layers of 3 MB) to s3" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/s3/img:v1 --preserve-digests
check "pull it back (blobs via 307 to presigned URLs)" \
	skopeo_copy docker://$R/s3/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "pulled blobs byte-identical" blobs_same "$TMP/src" "$TMP/back"

layer=$(jq -r '.layers[0].digest' "$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")")
lsize=$(jq -r '.layers[0].size' "$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")")
hdr=$(curl -s -o /dev/null -D - "http://$R/v2/s3/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" "307" "$(echo "$hdr" | awk 'NR==1{print $2}')"
loc=$(echo "$hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
case $loc in "$SWIFT_ENDPOINT"/wharf-e2e/e2e/root/docker/registry/v2/blobs/*X-Amz-Signature=*) t_ok "Location is a presigned URL of the blob's key" ;;
*) t_fail "Location is a presigned URL of the blob's key" "$loc" ;; esac
got=$(curl -s "$loc" | sha256sum | cut -d' ' -f1)
check_eq "the presigned URL serves the blob" "${layer#sha256:}" "$got"
# change the signature's last hex digit to a different one (0 would be a no-op
# one time in sixteen)
case $loc in *0) bad="${loc%?}1" ;; *) bad="${loc%?}0" ;; esac
check_eq "a tampered signature is refused by the store" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$bad")"
h=$(curl -s -I "http://$R/v2/s3/img/blobs/$layer" | tr -d '\r')
check_eq "blob HEAD answered by Wharf (200)" 200 "$(echo "$h" | awk 'NR==1{print $2}')"
check_eq "blob HEAD Content-Length" "$lsize" "$(echo "$h" | awk -F': ' 'tolower($1)=="content-length"{print $2}')"

# --- a chunked upload across parts ----------------------------------------------------
head -c $((6 * 1024 * 1024 + 11)) /dev/urandom >"$TMP/c1"
head -c 3 /dev/urandom >"$TMP/c2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/c3"
cat "$TMP/c1" "$TMP/c2" "$TMP/c3" >"$TMP/chunked"
dg=sha256:$(sha256sum <"$TMP/chunked" | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -D - -X POST "http://$R/v2/s3/chunked/blobs/uploads/" | tr -d '\r' |
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
[ "${loc#http}" = "$loc" ] && loc=http://$R$loc
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "PUT ?digest commits the chunked upload" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$dg")"
check_eq "the committed blob reads back (via the redirect)" "${dg#sha256:}" \
	"$(curl -s -L "http://$R/v2/s3/chunked/blobs/$dg" | sha256sum | cut -d' ' -f1)"

# --- redis blob-descriptor cache -------------------------------------------------------
check_eq "the blob's descriptor is in redis" "$lsize" \
	"$("${RCLI[@]}" hget "wharf::blobs::$layer" size 2>/dev/null)"
# a deleted blob's data leaves the cache (garbage collection after the tag is gone)
check_eq "the chunked blob's descriptor is in redis" $((11 * 1024 * 1024 + 14)) \
	"$("${RCLI[@]}" hget "wharf::blobs::$dg" size 2>/dev/null)"
check "delete the chunked blob's link" curl -sf -o /dev/null -X DELETE "http://$R/v2/s3/chunked/blobs/$dg"
# (offline mode on a quiet registry: the grace of --online would keep the fresh blob)
AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
	"$WHARF_BIN" garbage-collect "$S_DIR/config.yml" >"$TMP/gc.log" 2>&1
check_eq "garbage collection on s3 runs" 0 "$?"
check "garbage collection on s3 deleted the unreferenced blob" grep -q "and 1 blobs deleted" "$TMP/gc.log"
# one collection at a time on a bucket: the lease object _wharf_gc/lease
# swift_code KEY: HTTP status of a GET of KEY in the bucket (Swift's own API)
swift_code() {
	local auth tok url
	auth=$(curl -s -i -m 10 -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
		"$SWIFT_ENDPOINT/auth/v1.0" | tr -d '\r')
	tok=$(echo "$auth" | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
	url=$(echo "$auth" | awk -F': ' 'tolower($1)=="x-storage-url"{print $2}')
	curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $tok" "$url/wharf-e2e/$1"
}
LEASE_KEY=e2e/root/docker/registry/v2/_wharf_gc/lease
AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
	"$WHARF_BIN" garbage-collect --online --settle-ms 4000 "$S_DIR/config.yml" >"$TMP/gc1.log" 2>&1 &
gc1=$!
track_pid "$gc1"
for _ in $(seq 50); do [ "$(swift_code "$LEASE_KEY")" = 200 ] && break; sleep 0.1; done
check_eq "gc on s3: the running collection holds a lease object" 200 "$(swift_code "$LEASE_KEY")"
AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
	"$WHARF_BIN" garbage-collect --online "$S_DIR/config.yml" >"$TMP/gc2.log" 2>&1
check_eq "gc on s3: a second collection meanwhile is refused (exit 1)" 1 "$?"
check "gc on s3: it names the holder (host, pid)" grep -q "another garbage collection is running (host .*, pid $gc1" "$TMP/gc2.log"
wait "$gc1"
check_eq "gc on s3: the first collection finishes" 0 "$?"
check_eq "gc on s3: its lease is deleted at the end" 404 "$(swift_code "$LEASE_KEY")"
# a run killed while holding the lease: the next run on this host sees its
# pid is gone and takes over (elsewhere the lease expires after 10 minutes)
AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing WHARF_GC_TEST_KILL=settle:0 \
	bash -c '"$1" garbage-collect --online "$2"; exit $?' _ "$WHARF_BIN" "$S_DIR/config.yml" >/dev/null 2>&1
check_eq "gc on s3: a run killed mid-way leaves its lease" 200 "$(swift_code "$LEASE_KEY")"
check "gc on s3: the next run takes over a dead holder's lease" env AWS_ACCESS_KEY_ID=test:tester \
	AWS_SECRET_ACCESS_KEY=testing "$WHARF_BIN" garbage-collect --online "$S_DIR/config.yml"
cached=$("${RCLI[@]}" hget "wharf::blobs::$dg" size 2>/dev/null)
t_result "the deleted blob's cache entry is gone" "$([ -z "$cached" ]; echo $?)" "still cached: $cached"
check_eq "the deleted blob is unknown (HEAD 404 in another repo's view too)" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/s3/chunked/blobs/$dg")"
check_eq "the image's layer is still served after GC" "${layer#sha256:}" \
	"$(curl -s -L "http://$R/v2/s3/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
# an outage: requests go on from storage
stop_pid "$REDIS_PID" 5
check_eq "redis down: blob HEAD still 200" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/s3/img/blobs/$layer")"
check_eq "redis down: blob GET still 307" 307 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://$R/v2/s3/img/blobs/$layer")"
check "redis down: pull still works" \
	skopeo_copy docker://$R/s3/img:v1 oci:"$TMP/back2":v1 --preserve-digests
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
	>"$TMP/redis2.log" 2>&1 </dev/null &
REDIS_PID=$!
track_pid "$REDIS_PID"
for _ in $(seq 50); do "${RCLI[@]}" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
sleep 1.2 # the 1 s backoff after the outage
curl -s -o /dev/null -I "http://$R/v2/s3/img/blobs/$layer"
check_eq "redis back: the cache fills again" "$lsize" \
	"$("${RCLI[@]}" hget "wharf::blobs::$layer" size 2>/dev/null)"
s3_wharf_stop

# --- redirect disabled: the worker streams, Range supported --------------------------------
s3_wharf w2 "  redirect:
    disable: true" || t_fail "wharf (redirect disabled) starts"
R=$S_HOST
check_eq "redirect disabled: blob GET streams (200) the right bytes" "${layer#sha256:}" \
	"$(curl -s "http://$R/v2/s3/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
rng=$(curl -s -H 'Range: bytes=100-199' -w ' %{http_code}' "http://$R/v2/s3/img/blobs/$layer" | od -An -c | tr -d ' \n' | tail -c 3)
check_eq "Range 100-199 answers 206" 206 "$rng"
want=$(tail -c +101 "$TMP/src/blobs/sha256/${layer#sha256:}" | head -c 100 | sha256sum | cut -d' ' -f1)
check_eq "Range 100-199 bytes" "$want" \
	"$(curl -s -H 'Range: bytes=100-199' "http://$R/v2/s3/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
s3_wharf_stop

# --- the reference registry on the same bucket root ------------------------------------
RP=$(free_port)
cat >"$TMP/ref.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: test:tester
    secretkey: testing
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: wharf-e2e
    rootdirectory: /e2e/root
    secure: false
    v4auth: true
    chunksize: 5242880
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$RP
  secret: e2e-s3-shared-secret
EOF
env -u AWS_CA_BUNDLE docker-registry serve "$TMP/ref.yml" >"$TMP/ref.log" 2>&1 </dev/null &
REF_PID=$!
track_pid "$REF_PID"
if wait_http "http://127.0.0.1:$RP/v2/" "$REF_PID" 20; then
	check "the reference registry pulls Wharf's image from the bucket" \
		skopeo_copy docker://127.0.0.1:$RP/s3/img:v1 oci:"$TMP/refback":v1 --preserve-digests
	check "byte-identical" blobs_same "$TMP/src" "$TMP/refback"
	mkimage "$TMP/src3" --tag v1 --layers 2 --size 6000000 --compress none --seed s3-ref >/dev/null
	check "the reference registry pushes an image (6 MB layers)" \
		skopeo_copy oci:"$TMP/src3":v1 docker://127.0.0.1:$RP/s3/fromref:v1 --preserve-digests
	s3_wharf w3 || t_fail "wharf starts again"
	check "Wharf pulls the reference's image from the bucket" \
		skopeo_copy docker://$S_HOST/s3/fromref:v1 oci:"$TMP/fromref":v1 --preserve-digests
	check "byte-identical" blobs_same "$TMP/src3" "$TMP/fromref"
	s3_wharf_stop
else
	t_fail "the reference registry starts on s3" "$(tail -n 10 "$TMP/ref.log")"
fi
stop_pid "$REF_PID" 5
e2e_done
