#!/usr/bin/env bash
# Alibaba Cloud OSS storage (issue 15) end to end, against the local OSS
# stand-in tests/storage/oss_server.py (verifies OSS signature V1 on every
# request and on signed URLs; no OSS server runs offline): skopeo push and
# pull through nginx + Wharf on storage.oss, byte-identical, with blob GETs
# answered 307 to an OSS signed URL the stand-in honours, then with
# storage.redirect.disable: the worker streams, Range included.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl /usr/bin/python3); then
	t_skip "oss storage on the stand-in" "$why"
	exit 0
fi
/usr/bin/python3 "$REPO/tests/storage/oss_server.py" --port-file "$TMP/oss.port" \
	--bucket wharf-e2e --akid LTAIwharfe2e --secret e2e-oss-secret >"$TMP/oss.log" 2>&1 </dev/null &
track_pid $!
wait_for 10 test -s "$TMP/oss.port" || {
	t_fail "the OSS stand-in listens" "$(tail -n 20 "$TMP/oss.log")"
	exit 1
}
OSS_PORT=$(cat "$TMP/oss.port")

# oss_wharf NAME [yaml under storage:]: Wharf on the bucket behind nginx; sets S_*.
oss_wharf() {
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
  level: info
storage:
  oss:
    accesskeyid: LTAIwharfe2e
    accesskeysecret: e2e-oss-secret
    region: oss-cn-beijing
    endpoint: 127.0.0.1:$OSS_PORT
    bucket: wharf-e2e
    secure: false
    encrypt: true
    chunksize: 5242880
    rootdirectory: /e2e/root
  delete:
    enabled: true
$extra
http:
  secret: e2e-oss-shared-secret
fastcgi:
  listen: unix:$S_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $S_DIR/wharf.pid
EOT
	# upload bodies received by nginx into local files that Wharf sends to
	# the store, unless WHARF_E2E_BODYFILES=false
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
oss_wharf_stop() {
	stop_pid "$S_NGINX" 5
	stop_pid "$S_PID" 15
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$S_DIR/wharf.log"; then
		t_fail "no worker crashed ($S_DIR)" "$(grep 'killed by signal' "$S_DIR/wharf.log" | head -n 3)"
	fi
}

oss_wharf w1 || { t_fail "wharf on oss starts" "$(tail -n 20 "$TMP/w1/wharf.log")"; exit 1; }
R=$S_HOST
t_ok "wharf on oss (the stand-in) starts"

# --- redirects on ---------------------------------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 6000000 --compress none --seed oss-e2e >"$TMP/src.digest"
check "push an image (3 layers of 6 MB) to oss" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/oss/img:v1 --preserve-digests
check "pull it back (blobs via 307 to signed URLs)" \
	skopeo_copy docker://$R/oss/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "pulled blobs byte-identical" blobs_same "$TMP/src" "$TMP/back"

layer=$(jq -r '.layers[0].digest' "$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")")
hdr=$(curl -s -o /dev/null -D - "http://$R/v2/oss/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" "307" "$(echo "$hdr" | awk 'NR==1{print $2}')"
loc=$(echo "$hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
case $loc in "http://127.0.0.1:$OSS_PORT/wharf-e2e/e2e/root/docker/registry/v2/blobs/sha256/"*"/data?OSSAccessKeyId=LTAIwharfe2e&Expires="*"&Signature="*)
	t_ok "Location is an OSS signed URL of the blob's key (the reference's layout)" ;;
*) t_fail "Location is an OSS signed URL of the blob's key (the reference's layout)" "$loc" ;; esac
check_eq "the signed URL serves the blob" "${layer#sha256:}" "$(curl -s "$loc" | sha256sum | cut -d' ' -f1)"
check_eq "the stand-in verified every request of Wharf's: no bad signature" 0 \
	"$(grep -c SignatureDoesNotMatch "$TMP/oss.log")"
bad=${loc/Signature=/Signature=A}
check_eq "a tampered signature is refused by the store" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$bad")"
check_eq "the stand-in logged it as SignatureDoesNotMatch" 1 \
	"$(grep -c SignatureDoesNotMatch "$TMP/oss.log")"
oss_wharf_stop

# --- redirects off: the worker streams -------------------------------------------------
oss_wharf w2 "  redirect:
    disable: true" || t_fail "wharf (redirect disabled) starts"
R=$S_HOST
check "redirect disabled: pull byte-identical" \
	skopeo_copy docker://$R/oss/img:v1 oci:"$TMP/back2":v1 --preserve-digests
check "redirect disabled: blobs byte-identical" blobs_same "$TMP/src" "$TMP/back2"
check_eq "redirect disabled: blob GET streams (200)" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://$R/v2/oss/img/blobs/$layer")"
want=$(tail -c +101 "$TMP/src/blobs/sha256/${layer#sha256:}" | head -c 100 | sha256sum | cut -d' ' -f1)
check_eq "Range 100-199 bytes" "$want" \
	"$(curl -s -H 'Range: bytes=100-199' "http://$R/v2/oss/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
mkimage "$TMP/src2" --tag v2 --layers 2 --size 7000000 --compress none --seed oss-e2e-2 >/dev/null
check "redirect disabled: push a second image" \
	skopeo_copy oci:"$TMP/src2":v2 docker://$R/oss/img:v2 --preserve-digests
check "and pull it back byte-identical" \
	skopeo_copy docker://$R/oss/img:v2 oci:"$TMP/back3":v2 --preserve-digests
check "second image blobs byte-identical" blobs_same "$TMP/src2" "$TMP/back3"
oss_wharf_stop
e2e_done
