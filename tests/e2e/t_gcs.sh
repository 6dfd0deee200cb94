#!/usr/bin/env bash
# Google Cloud Storage (issue 15) end to end. No GCS emulator runs offline, so
# the store is tests/storage/gcs_server.py (an in-memory JSON API written for
# the tests; it verifies the service account's JWTs and the V4 signed URLs),
# reached through STORAGE_EMULATOR_HOST: skopeo push/pull through nginx +
# Wharf on storage.gcs, byte-identical, and podman push/pull; blob GETs answered 307 to a V4 signed
# URL the store honours (a tampered one refused); a chunked upload over three
# PATCHes (resumable sessions, compose at the move); the objects under the
# reference's layout; with storage.redirect disabled the worker streams.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl openssl); then
	t_skip "gcs storage on the local fake" "$why"
	exit 0
fi
[ -x /usr/bin/python3 ] || {
	t_skip "gcs storage on the local fake" "/usr/bin/python3 missing"
	exit 0
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/key.pem" 2>/dev/null
openssl pkey -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
EMAIL=wharf-e2e@wharf-test.iam.gserviceaccount.com
/usr/bin/python3 "$REPO/tests/storage/gcs_server.py" --port-file "$TMP/gport" --pubkey "$TMP/pub.pem" \
	--email "$EMAIL" --page-size 50 >"$TMP/gcs.log" 2>&1 </dev/null &
track_pid $!
for _ in $(seq 100); do [ -s "$TMP/gport" ] && break; sleep 0.05; done
GPORT=$(cat "$TMP/gport" 2>/dev/null)
[ -n "$GPORT" ] || { t_fail "the gcs fake starts" "$(cat "$TMP/gcs.log")"; exit 1; }
G=http://127.0.0.1:$GPORT
/usr/bin/python3 - "$TMP/key.pem" "$EMAIL" "$G/token" >"$TMP/account.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "wharf-test",
                  "private_key_id": "0" * 40, "private_key": open(sys.argv[1]).read(),
                  "client_email": sys.argv[2], "client_id": "1", "token_uri": sys.argv[3]}))
PY

# gcs_wharf NAME [yaml under storage:]: Wharf on the bucket behind nginx; sets S_*.
gcs_wharf() {
	local name=$1 extra=${2:-} port
	S_DIR=$TMP/$name
	mkdir -p "$S_DIR"
	chmod 755 "$S_DIR"
	port=$(free_port) || return 1
	S_HOST=127.0.0.1:$port
	cat >"$S_DIR/config.yml" <<YML
version: 0.1
log:
  level: info
storage:
  gcs:
    bucket: wharf-e2e
    keyfile: $TMP/account.json
    rootdirectory: /e2e/root
    chunksize: 5242880
  delete:
    enabled: true
$extra
http:
  secret: e2e-gcs-shared-secret
fastcgi:
  listen: unix:$S_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $S_DIR/wharf.pid
YML
	STORAGE_EMULATOR_HOST=127.0.0.1:$GPORT "$WHARF_BIN" serve -c "$S_DIR/config.yml" \
		>"$S_DIR/wharf.log" 2>&1 </dev/null &
	S_PID=$!
	track_pid "$S_PID"
	for _ in $(seq 100); do [ -S "$S_DIR/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$S_DIR" "$S_HOST" "$S_DIR/wharf.sock" "$S_DIR" "" || return 1
	nginx_start "$S_DIR" || return 1
	S_NGINX=$NGINX_PID
	wait_http "http://$S_HOST/v2/" "$S_NGINX" 20 || {
		diag "$(tail -n 20 "$S_DIR/wharf.log")"
		return 1
	}
}
gcs_wharf_stop() {
	stop_pid "$S_NGINX" 5
	stop_pid "$S_PID" 15
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$S_DIR/wharf.log"; then
		t_fail "no worker crashed ($S_DIR)" "$(grep 'killed by signal' "$S_DIR/wharf.log" | head -n 3)"
	fi
}

gcs_wharf w1 || { t_fail "wharf on gcs starts" "$(tail -n 20 "$TMP/w1/wharf.log")"; exit 1; }
R=$S_HOST
t_ok "wharf on gcs (the local fake) starts"

# --- skopeo push / pull, redirects to V4 signed URLs ------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 3000000 --compress none --seed gcs-e2e >"$TMP/src.digest"
check "push an image (3 layers of 3 MB) to gcs" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/gcs/img:v1 --preserve-digests
check "pull it back (blobs via 307 to V4 signed URLs)" \
	skopeo_copy docker://$R/gcs/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "pulled blobs byte-identical" blobs_same "$TMP/src" "$TMP/back"
man=$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")
layer=$(jq -r '.layers[0].digest' "$man")
hdr=$(curl -s -o /dev/null -D - "http://$R/v2/gcs/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" "307" "$(echo "$hdr" | awk 'NR==1{print $2}')"
loc=$(echo "$hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
case $loc in "$G"/wharf-e2e/e2e/root/docker/registry/v2/blobs/sha256/*/data\?X-Goog-Algorithm=GOOG4-RSA-SHA256*X-Goog-Signature=*)
	t_ok "Location is a V4 signed URL of the blob's object" ;;
*) t_fail "Location is a V4 signed URL of the blob's object" "$loc" ;; esac
check_eq "the signed URL serves the blob" "${layer#sha256:}" "$(curl -s "$loc" | sha256sum | cut -d' ' -f1)"
case $loc in *0) bad="${loc%?}1" ;; *) bad="${loc%?}0" ;; esac
check_eq "a tampered signature is refused by the store" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$bad")"

# --- podman (layers PATCHed chunked, no length), when it runs here -----------------------------
HAVE_PODMAN=
if command -v podman >/dev/null; then
	mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp"
	PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
		--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
	mkimage "$TMP/pimg" --tag v1 --layers 2 --size 1500000 --seed gcs-podman >/dev/null
	TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" pull -q "oci:$TMP/pimg:v1" >/dev/null 2>&1 && HAVE_PODMAN=1
	PODMAN_ID=$(TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" images -q 2>/dev/null | head -n 1)
fi
if [ -n "$HAVE_PODMAN" ]; then
	PODMAN_FULL=$(TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" image inspect --format '{{.Id}}' "$PODMAN_ID" 2>/dev/null)
	check "podman push to gcs" env TMPDIR="$TMP/podman/tmp" "${PODMAN[@]}" push -q \
		--tls-verify=false "$PODMAN_ID" "docker://$R/gcs/podman:1"
	TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" rmi -f -a >/dev/null 2>&1
	check "podman pull from gcs (via the redirects) into an empty store" env TMPDIR="$TMP/podman/tmp" \
		"${PODMAN[@]}" pull -q --tls-verify=false "$R/gcs/podman:1"
	check_eq "podman: the same image id" "$PODMAN_FULL" \
		"$(TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" image inspect --format '{{.Id}}' "$R/gcs/podman:1" 2>/dev/null)"
else
	t_skip "podman push/pull on gcs" "podman missing or cannot load an image here"
fi

# --- the reference's layout -----------------------------------------------------------
names=$(curl -s "$G/_names")
p=wharf-e2e/e2e/root/docker/registry/v2
lh=${layer#sha256:}
t_result "the blob is the object <root>/docker/registry/v2/blobs/sha256/xx/<hex>/data" \
	"$(echo "$names" | jq -e --arg n "$p/blobs/sha256/${lh:0:2}/$lh/data" 'index($n) != null' >/dev/null; echo $?)"
t_result "the tag is <root>/.../repositories/gcs/img/_manifests/tags/v1/current/link" \
	"$(echo "$names" | jq -e --arg n "$p/repositories/gcs/img/_manifests/tags/v1/current/link" 'index($n) != null' >/dev/null; echo $?)"
t_result "no upload state is left behind (.tmp- objects)" \
	"$(echo "$names" | jq -e '[.[] | select(test("/\\.tmp-"))] | length == 0' >/dev/null; echo $?)" \
	"$(echo "$names" | jq -r '.[] | select(test("/\\.tmp-"))' | head -n 5)"

# --- a chunked upload over three PATCHes ------------------------------------------------------
head -c $((6 * 1024 * 1024 + 11)) /dev/urandom >"$TMP/c1"
head -c 3 /dev/urandom >"$TMP/c2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/c3"
cat "$TMP/c1" "$TMP/c2" "$TMP/c3" >"$TMP/chunked"
dg=sha256:$(sha256sum <"$TMP/chunked" | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -D - -X POST "http://$R/v2/gcs/chunked/blobs/uploads/" | tr -d '\r' |
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
	"$(curl -s -L "http://$R/v2/gcs/chunked/blobs/$dg" | sha256sum | cut -d' ' -f1)"
gcs_wharf_stop

# --- redirect disabled: the worker streams ------------------------------------------------
gcs_wharf w2 "  redirect:
    disable: true" || t_fail "wharf (redirect disabled) starts"
R=$S_HOST
check_eq "redirect disabled: blob GET streams (200) the right bytes" "${layer#sha256:}" \
	"$(curl -s "http://$R/v2/gcs/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
want=$(tail -c +101 "$TMP/src/blobs/sha256/$lh" | head -c 100 | sha256sum | cut -d' ' -f1)
check_eq "Range 100-199 bytes" "$want" \
	"$(curl -s -H 'Range: bytes=100-199' "http://$R/v2/gcs/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
mkimage "$TMP/src2" --tag v2 --layers 2 --size 2000000 --compress none --seed gcs-e2e-2 >/dev/null
check "redirect disabled: push a second image" \
	skopeo_copy oci:"$TMP/src2":v2 docker://$R/gcs/img2:v2 --preserve-digests
check "redirect disabled: pull both back" \
	skopeo_copy docker://$R/gcs/img2:v2 oci:"$TMP/back2":v2 --preserve-digests
check "redirect disabled: byte-identical" blobs_same "$TMP/src2" "$TMP/back2"
check "redirect disabled: the first image too" \
	skopeo_copy docker://$R/gcs/img:v1 oci:"$TMP/back3":v1 --preserve-digests
check "redirect disabled: first image byte-identical" blobs_same "$TMP/src" "$TMP/back3"
gcs_wharf_stop
e2e_done
