#!/usr/bin/env bash
# Blobs served by the worker itself (fastcgi.blobs.accel: none): full GET,
# HEAD, Range 206, suffix range, 416, and a skopeo round trip — the path used
# when the web server cannot send files (CGI hosting, Apache without
# mod_xsendfile). Also a chunked (PATCH, no Content-Length) upload.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx skopeo); then
	t_skip "worker-streamed blobs" "$why"
	exit 0
fi
WHARF_E2E_ACCEL=none wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

head -c 3000000 /dev/urandom >"$TMP/blob"
D=sha256:$(sha256sum "$TMP/blob" | cut -d' ' -f1)
loc=$(curl -s -D - -o /dev/null -X POST "$U/v2/s/b/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
check "POST starts an upload" test -n "$loc"
# chunked request body: curl sends Transfer-Encoding: chunked when reading stdin
st=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' --data-binary @- "$loc" <"$TMP/blob")
check_eq "chunked PATCH without Content-Length -> 202" 202 "$st"
case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$D")
check_eq "PUT ?digest= commits -> 201" 201 "$st"

curl -s -D "$TMP/h" -o "$TMP/got" "$U/v2/s/b/blobs/$D"
check "GET streams the whole blob byte-identical" cmp -s "$TMP/blob" "$TMP/got"
check "no X-Accel-Redirect header reaches the client" sh -c "! grep -qi '^x-accel' '$TMP/h'"
check "Docker-Content-Digest on GET" grep -qi "^docker-content-digest: $D" "$TMP/h"
len=$(curl -s -I "$U/v2/s/b/blobs/$D" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}')
check_eq "HEAD Content-Length" 3000000 "$len"

st=$(curl -s -o "$TMP/part" -D "$TMP/h" -w '%{http_code}' -H 'Range: bytes=1000-1999' "$U/v2/s/b/blobs/$D")
check_eq "Range -> 206" 206 "$st"
check "206 body is bytes 1000-1999" cmp -s "$TMP/part" <(tail -c +1001 "$TMP/blob" | head -c 1000)
check "Content-Range header" grep -qi '^content-range: bytes 1000-1999/3000000' "$TMP/h"
st=$(curl -s -o "$TMP/part" -w '%{http_code}' -H 'Range: bytes=-10' "$U/v2/s/b/blobs/$D")
check_eq "suffix Range -> 206" 206 "$st"
check "suffix body is the last 10 bytes" cmp -s "$TMP/part" <(tail -c 10 "$TMP/blob")
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=3000000-' "$U/v2/s/b/blobs/$D")
check_eq "Range past the end -> 416" 416 "$st"

mkimage --layers 2 --size 200000 "$TMP/img" >/dev/null
check "skopeo push" skopeo_copy oci:"$TMP/img" "docker://$W_HOST/s/img:1"
check "skopeo pull" skopeo_copy "docker://$W_HOST/s/img:1" oci:"$TMP/back"
check "round trip byte-identical" blobs_same "$TMP/img" "$TMP/back"

e2e_done
