#!/usr/bin/env bash
# Azure Blob Storage (issue 15) end to end, on azurite (SharedKey and SAS
# signatures verified) started here: skopeo push/pull through nginx + Wharf
# on storage.azure, byte-identical; blob GETs answered 307 to a service SAS
# URL the store honours (a tampered one refused); a chunked upload whose
# PATCHes cross the writer's 8 MiB block, each PATCH a writer session that
# commits its block list; garbage collection (the lease lock); one upload
# whose PATCHes alternate between two nodes on the same container; and with
# storage.redirect disabled the worker streams the blob, Range included.
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/storage/azure_lib.sh
source "$REPO/tests/storage/azure_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl); then
	t_skip "azure storage on azurite" "$why"
	exit 0
fi
if ! azurite_bin >/dev/null; then
	t_skip "azure storage on azurite" "azurite not installed (admin/deps.sh test)"
	exit 0
fi
at_exit azure_stop
azure_start "$TMP/azurite" || {
	t_fail "azurite starts" "$(tail -n 20 "$TMP/azurite/azurite.log" 2>/dev/null)"
	exit 1
}
t_ok "azurite starts"

# az_wharf NAME [yaml under storage:]: Wharf on the container behind nginx; sets S_*.
az_wharf() {
	local name=$1 extra=${2:-}
	S_DIR=$TMP/$name
	mkdir -p "$S_DIR"
	chmod 755 "$S_DIR"
	local port
	port=$(free_port) || return 1
	S_HOST=127.0.0.1:$port
	S_BODYDIR=$S_DIR/body
	cat >"$S_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  azure:
    accountname: $AZURE_ACCOUNT
    accountkey: $AZURE_KEY
    container: wharf-e2e
    serviceurl: $AZURE_SERVICEURL
    rootdirectory: /e2e/root
  delete:
    enabled: true
$extra
http:
  secret: e2e-azure-shared-secret
fastcgi:
  listen: unix:$S_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $S_DIR/wharf.pid
  uploads:
    bodydir: $S_BODYDIR
EOF
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
az_wharf_stop() {
	stop_pid "$S_NGINX" 5
	stop_pid "$S_PID" 15
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$S_DIR/wharf.log"; then
		t_fail "no worker crashed ($S_DIR)" "$(grep 'killed by signal' "$S_DIR/wharf.log" | head -n 3)"
	fi
}

az_wharf w1 || { t_fail "wharf on azure starts" "$(tail -n 20 "$TMP/w1/wharf.log")"; exit 1; }
R=$S_HOST
t_ok "wharf on azure (azurite) starts"

# --- skopeo push / pull, redirects on ---------------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 3000000 --compress none --seed az-e2e >"$TMP/src.digest"
check "push an image (3 layers of 3 MB) to azure" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/az/img:v1 --preserve-digests
check "pull it back (blobs via 307 to SAS URLs)" \
	skopeo_copy docker://$R/az/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "pulled blobs byte-identical" blobs_same "$TMP/src" "$TMP/back"

man=$TMP/src/blobs/sha256/$(cut -d: -f2 <"$TMP/src.digest")
layer=$(jq -r '.layers[0].digest' "$man")
lsize=$(jq -r '.layers[0].size' "$man")
hdr=$(curl -s -o /dev/null -D - "http://$R/v2/az/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" "307" "$(echo "$hdr" | awk 'NR==1{print $2}')"
loc=$(echo "$hdr" | awk -F': ' 'tolower($1)=="location"{print $2}')
case $loc in "$AZURE_SERVICEURL"/wharf-e2e/e2e/root/docker/registry/v2/blobs/sha256/*/data\?sv=*\&sr=b\&sp=r\&se=*\&sig=*)
	t_ok "Location is a read-only SAS URL of the blob's name (the reference's layout)" ;;
*) t_fail "Location is a read-only SAS URL of the blob's name (the reference's layout)" "$loc" ;; esac
check_eq "the SAS URL serves the blob" "${layer#sha256:}" "$(curl -s "$loc" | sha256sum | cut -d' ' -f1)"
check_eq "the SAS URL answers HEAD too" 200 "$(curl -s -o /dev/null -I -w '%{http_code}' "$loc")"
# one changed character of the signature (its first)
sig=${loc##*&sig=}
pre=${loc%&sig=*}
c=${sig:0:1}
[ "$c" = A ] && nc=B || nc=A
check_eq "a tampered signature is refused by the store" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$pre&sig=$nc${sig:1}")"
h=$(curl -s -I "http://$R/v2/az/img/blobs/$layer" | tr -d '\r')
check_eq "blob HEAD answered by Wharf (200)" 200 "$(echo "$h" | awk 'NR==1{print $2}')"
check_eq "blob HEAD Content-Length" "$lsize" "$(echo "$h" | awk -F': ' 'tolower($1)=="content-length"{print $2}')"

# --- a chunked upload across blocks ---------------------------------------------------
head -c $((6 * 1024 * 1024 + 11)) /dev/urandom >"$TMP/c1"
head -c 3 /dev/urandom >"$TMP/c2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/c3"
cat "$TMP/c1" "$TMP/c2" "$TMP/c3" >"$TMP/chunked"
dg=sha256:$(sha256sum <"$TMP/chunked" | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -D - -X POST "http://$R/v2/az/chunked/blobs/uploads/" | tr -d '\r' |
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
	"$(curl -s -L "http://$R/v2/az/chunked/blobs/$dg" | sha256sum | cut -d' ' -f1)"

# --- garbage collection (the lease lock on azure) ---------------------------------------
check "delete the chunked blob's link" curl -sf -o /dev/null -X DELETE "http://$R/v2/az/chunked/blobs/$dg"
"$WHARF_BIN" garbage-collect "$S_DIR/config.yml" >"$TMP/gc.log" 2>&1
check_eq "garbage collection on azure runs" 0 "$?"
check "garbage collection on azure deleted the unreferenced blob" grep -q "and 1 blobs deleted" "$TMP/gc.log"
check_eq "the image's layer is still served after GC" "${layer#sha256:}" \
	"$(curl -s -L "http://$R/v2/az/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
R1=$S_HOST R1_PID=$S_PID R1_NGINX=$S_NGINX R1_DIR=$S_DIR

# --- redirect disabled: the worker streams, Range supported --------------------------------
az_wharf w2 "  redirect:
    disable: true" || t_fail "wharf (redirect disabled) starts"
R=$S_HOST

# --- one upload across two nodes on the same container ----------------------------------
# each PATCH lands on the other node: the blocks the last one committed are
# listed and appended to by the next
head -c $((9 * 1024 * 1024 + 1)) /dev/urandom >"$TMP/n1"
head -c 777 /dev/urandom >"$TMP/n2"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$TMP/n3"
cat "$TMP/n1" "$TMP/n2" "$TMP/n3" >"$TMP/nodes"
dg2=sha256:$(sha256sum <"$TMP/nodes" | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -D - -X POST "http://$R1/v2/az/nodes/blobs/uploads/" | tr -d '\r' |
	awk -F': ' 'tolower($1)=="location"{print $2}')
loc=${loc#http://$R1}
off=0 ok=1 i=0
for c in n1 n2 n3; do
	sz=$(stat -c %s "$TMP/$c")
	host=$R1
	[ $((i % 2)) = 1 ] && host=$R
	out=$(curl -s -o /dev/null -D - -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $off-$((off + sz - 1))" --data-binary @"$TMP/$c" "http://$host$loc" | tr -d '\r')
	[ "$(echo "$out" | awk 'NR==1{print $2}')" = 202 ] || ok=0
	off=$((off + sz))
	[ "$(echo "$out" | awk -F': ' 'tolower($1)=="range"{print $2}')" = "0-$((off - 1))" ] || ok=0
	loc=$(echo "$out" | awk -F': ' 'tolower($1)=="location"{print $2}')
	loc=${loc#http://$host}
	i=$((i + 1))
done
t_result "two nodes: PATCHes alternating between the nodes accepted with the right Range" $((1 - ok))
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "two nodes: PUT ?digest on the second node commits the upload" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://$R$loc${sep}digest=$dg2")"
check_eq "two nodes: the blob reads back from the first node (redirect)" "${dg2#sha256:}" \
	"$(curl -s -L "http://$R1/v2/az/nodes/blobs/$dg2" | sha256sum | cut -d' ' -f1)"
W2=($S_PID $S_NGINX $S_DIR)
S_PID=$R1_PID S_NGINX=$R1_NGINX S_DIR=$R1_DIR
az_wharf_stop
S_PID=${W2[0]} S_NGINX=${W2[1]} S_DIR=${W2[2]}
check_eq "redirect disabled: blob GET streams (200) the right bytes" "${layer#sha256:}" \
	"$(curl -s "http://$R/v2/az/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
rng=$(curl -s -o /dev/null -H 'Range: bytes=100-199' -w '%{http_code}' "http://$R/v2/az/img/blobs/$layer")
check_eq "Range 100-199 answers 206" 206 "$rng"
want=$(tail -c +101 "$TMP/src/blobs/sha256/${layer#sha256:}" | head -c 100 | sha256sum | cut -d' ' -f1)
check_eq "Range 100-199 bytes" "$want" \
	"$(curl -s -H 'Range: bytes=100-199' "http://$R/v2/az/img/blobs/$layer" | sha256sum | cut -d' ' -f1)"
mkimage "$TMP/src2" --tag v2 --layers 2 --size 2000000 --compress none --seed az-e2e-2 >/dev/null
check "redirect disabled: push another image" \
	skopeo_copy oci:"$TMP/src2":v2 docker://$R/az/img:v2 --preserve-digests
check "redirect disabled: pull both back" \
	skopeo_copy docker://$R/az/img:v2 oci:"$TMP/back2":v2 --preserve-digests
check "redirect disabled: byte-identical" blobs_same "$TMP/src2" "$TMP/back2"
check "redirect disabled: the first image too" \
	skopeo_copy docker://$R/az/img:v1 oci:"$TMP/back3":v1 --preserve-digests
check "redirect disabled: byte-identical (v1)" blobs_same "$TMP/src" "$TMP/back3"
az_wharf_stop
e2e_done
