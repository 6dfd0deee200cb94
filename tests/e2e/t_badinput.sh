#!/usr/bin/env bash
# Bad requests through nginx: every error is the spec's status and JSON
# ({"errors":[{"code":...}]}); a failed upload stores nothing. Also blob
# Range/HEAD through nginx's X-Accel-Redirect location.
#
# Where the reference registry (2.8.2) deviates from the OCI distribution
# spec, WHARF_E2E_TARGET=reference expects the reference's behaviour (ref_or).
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "bad input" "$why"
	exit 0
fi
wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

# ref_or WHARF REFERENCE: the expectation for the current target.
ref_or() { if [ "$E2E_TARGET" = reference ]; then echo "$2"; else echo "$1"; fi; }

# req METHOD URL [curl args...]: sets ST (status), BODY (file), HDRS (file).
req() {
	local m=$1 url=$2
	shift 2
	BODY=$TMP/resp.body
	HDRS=$TMP/resp.hdrs
	ST=$(curl -s -X "$m" -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$url")
}
hdr() { tr -d '\r' <"$HDRS" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" 'tolower($1) == h":" { sub(/^[^:]*: */, ""); print; exit }'; }

# expect_err NAME STATUS CODE METHOD URL [curl args]: status and
# errors[0].code of the JSON body. CODE "-" means: no JSON check.
expect_err() {
	local name=$1 st=$2 code=$3
	shift 3
	req "$@"
	local got_code
	got_code=$(jq -er '.errors[0].code' "$BODY" 2>/dev/null) || got_code="(no JSON errors[0].code)"
	if [ "$code" = "-" ]; then got_code=-; fi
	if [ "$ST" = "$st" ] && [ "$got_code" = "$code" ]; then
		t_ok "$name"
	else
		t_fail "$name" "expected $st $code, got $ST $got_code" "$(head -c 300 "$BODY")"
	fi
}

zero=$(printf '%064d' 0)
one=$(printf '%064d' 1)

# --- names, digests, unknowns --------------------------------------------------
if [ "$E2E_TARGET" = reference ]; then
	# The reference's router does not match such names: a plain-text 404.
	expect_err "invalid repository name (uppercase) refused" 404 - GET "$U/v2/Bad/Name/manifests/latest"
	expect_err "invalid repository name (a..b) refused" 404 - POST "$U/v2/a..b/blobs/uploads/"
else
	expect_err "invalid repository name (uppercase) -> 400 NAME_INVALID" 400 NAME_INVALID \
		GET "$U/v2/Bad/Name/manifests/latest"
	expect_err "invalid repository name (a..b) upload -> 400 NAME_INVALID" 400 NAME_INVALID \
		POST "$U/v2/a..b/blobs/uploads/"
fi
expect_err "invalid digest (sha256:xyz) -> 400 DIGEST_INVALID" 400 DIGEST_INVALID GET "$U/v2/ok/blobs/sha256:xyz"
expect_err "unsupported algorithm digest -> 400 DIGEST_INVALID" 400 DIGEST_INVALID \
	GET "$U/v2/ok/blobs/md5:d41d8cd98f00b204e9800998ecf8427e"
expect_err "unknown blob -> 404 BLOB_UNKNOWN" 404 BLOB_UNKNOWN GET "$U/v2/ok/blobs/sha256:$zero"
expect_err "unknown manifest (tag) -> 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN GET "$U/v2/ok/manifests/nope"
expect_err "unknown manifest (digest) -> 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN \
	GET "$U/v2/ok/manifests/sha256:$zero"
expect_err "unknown upload uuid -> 404 $(ref_or BLOB_UPLOAD_UNKNOWN BLOB_UPLOAD_INVALID)" \
	404 "$(ref_or BLOB_UPLOAD_UNKNOWN BLOB_UPLOAD_INVALID)" \
	GET "$U/v2/ok/blobs/uploads/3f1e6b2c-1111-4222-8333-444455556666"
req HEAD "$U/v2/ok/blobs/sha256:$zero" -I
check_eq "HEAD unknown blob -> 404" 404 "$ST"

# --- monolithic upload with a wrong digest: 400, nothing stored ----------------------
head -c 70000 /dev/urandom >"$TMP/blob1"
real=sha256:$(sha256sum <"$TMP/blob1" | cut -d' ' -f1)
req POST "$U/v2/ok/blobs/uploads/"
check_eq "POST upload -> 202" 202 "$ST"
loc=$(hdr Location)
case $loc in /*) loc=$U$loc ;; esac
sep='?'
case $loc in *\?*) sep='&' ;; esac
expect_err "monolithic PUT with a wrong digest -> 400 DIGEST_INVALID" 400 DIGEST_INVALID \
	PUT "${loc}${sep}digest=sha256:$one" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/blob1"
leaked=$(find "$W_ROOT/docker/registry/v2/blobs" -name data 2>/dev/null | wc -l)
check_eq "no blob file stored after the mismatch" 0 "$leaked"
req HEAD "$U/v2/ok/blobs/sha256:$one" -I
check_eq "HEAD of the claimed digest -> 404" 404 "$ST"
req HEAD "$U/v2/ok/blobs/$real" -I
check_eq "HEAD of the real digest -> 404" 404 "$ST"

# --- a good monolithic upload, then Range and HEAD through nginx ---------------------
req POST "$U/v2/ok/blobs/uploads/?digest=$real" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/blob1"
# A single POST with ?digest= is optional in the spec: 201 (done) or 202
# (a normal upload session, as the reference answers).
case $ST in
201) t_ok "single-POST monolithic upload -> 201" ;;
202) diag "single-POST monolithic upload not supported (202): using POST + PUT" ;;
*) t_fail "single-POST monolithic upload -> 201 or 202" "got $ST" ;;
esac
if [ "$ST" != 201 ]; then
	req POST "$U/v2/ok/blobs/uploads/"
	loc=$(hdr Location)
	case $loc in /*) loc=$U$loc ;; esac
	sep='?'
	case $loc in *\?*) sep='&' ;; esac
	req PUT "${loc}${sep}digest=$real" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/blob1"
	check_eq "POST + PUT monolithic upload -> 201" 201 "$ST"
fi
check_eq "upload answers Docker-Content-Digest" "$real" "$(hdr Docker-Content-Digest)"
[ -f "$(store_blob_path "$W_ROOT" "$real")" ]
t_result "blob stored in the distribution layout" $?

req GET "$U/v2/ok/blobs/$real" -H 'Range: bytes=1000-1999'
check_eq "GET blob with Range -> 206" 206 "$ST"
cmp -s "$BODY" <(tail -c +1001 "$TMP/blob1" | head -c 1000)
t_result "Range body is bytes 1000-1999" $?
check_eq "Content-Range of the 206" "bytes 1000-1999/70000" "$(hdr Content-Range)"
req GET "$U/v2/ok/blobs/$real" -H 'Range: bytes=80000-'
check_eq "GET blob with an unsatisfiable Range -> 416" 416 "$ST"
req GET "$U/v2/ok/blobs/$real"
check_eq "GET blob -> 200" 200 "$ST"
cmp -s "$BODY" "$TMP/blob1"
t_result "GET blob body byte-identical" $?
check_eq "GET blob Docker-Content-Digest" "$real" "$(hdr Docker-Content-Digest)"
check_eq "GET blob Content-Type" "application/octet-stream" "$(hdr Content-Type)"
check_eq "GET blob ETag is the quoted digest" "\"$real\"" "$(hdr ETag)"
check_eq "GET blob Cache-Control" "max-age=31536000" "$(hdr Cache-Control)"
# One of each: nginx keeps some of the worker's headers across
# X-Accel-Redirect and adds Accept-Ranges itself.
dups=$(tr -d '\r' <"$HDRS" | awk -F: 'NF > 1 { print tolower($1) }' | sort | uniq -d | tr '\n' ' ')
check_eq "GET blob: no header sent twice" "none" "${dups:-none}"
req HEAD "$U/v2/ok/blobs/$real" -I
check_eq "HEAD blob -> 200" 200 "$ST"
check_eq "HEAD blob Content-Length" 70000 "$(hdr Content-Length)"
check_eq "HEAD blob Docker-Content-Digest" "$real" "$(hdr Docker-Content-Digest)"
if [ "$E2E_TARGET" != reference ]; then
	req GET "$U/_wharf_blobs/docker/registry/v2/blobs/sha256/${real:7:2}/${real#sha256:}/data"
	check_eq "the internal blob location is not reachable from outside" 404 "$ST"
fi

# --- manifests ---------------------------------------------------------------------
mt=application/vnd.oci.image.manifest.v1+json
m='{"schemaVersion":2,"mediaType":"'$mt'","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$one'","size":10},"layers":[]}'
expect_err "manifest naming a missing blob -> 400 MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN \
	PUT "$U/v2/ok/manifests/missing" -H "Content-Type: $mt" --data-binary "$m"
"$PYTHON" -c '
import json, sys
json.dump({"schemaVersion": 2, "mediaType": sys.argv[1],
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": sys.argv[2], "size": 70000},
           "layers": [], "annotations": {"pad": "a" * (5 * 1024 * 1024)}}, sys.stdout)' \
	"$mt" "$real" >"$TMP/big.json"
req PUT "$U/v2/ok/manifests/big" -H "Content-Type: $mt" --data-binary @"$TMP/big.json"
code=$(jq -er '.errors[0].code' "$BODY" 2>/dev/null)
case "$ST $code" in
"400 MANIFEST_INVALID" | "413 MANIFEST_INVALID" | "413 SIZE_INVALID" | "400 SIZE_INVALID" | "413 TOO_LARGE")
	t_ok "manifest over 4 MiB refused ($ST $code)" ;;
*) t_fail "manifest over 4 MiB refused (400/413 + JSON error)" "got $ST $code" ;;
esac
req GET "$U/v2/ok/manifests/big"
check_eq "refused manifest not stored" 404 "$ST"
expect_err "invalid manifest JSON -> 400 MANIFEST_INVALID" 400 MANIFEST_INVALID \
	PUT "$U/v2/ok/manifests/junk" -H "Content-Type: $mt" --data-binary '{"schemaVersion": 2, "layers": ['

# --- chunked upload out of order -----------------------------------------------------
head -c 5000 /dev/urandom >"$TMP/chunk"
req POST "$U/v2/ok/blobs/uploads/"
loc=$(hdr Location)
case $loc in /*) loc=$U$loc ;; esac
req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-4999' --data-binary @"$TMP/chunk"
check_eq "first PATCH (Content-Range 0-4999) -> 202" 202 "$ST"
check_eq "Range after first PATCH" "0-4999" "$(hdr Range)"
loc=$(hdr Location)
case $loc in /*) loc=$U$loc ;; esac
if [ "$E2E_TARGET" = reference ]; then
	t_skip "out-of-order PATCH -> 416" "reference 2.8.2 ignores Content-Range on PATCH"
else
	req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 6000-10999' \
		--data-binary @"$TMP/chunk"
	check_eq "out-of-order PATCH (starts at 6000, offset 5000) -> 416" 416 "$ST"
	req GET "$loc"
	check_eq "upload status after the refused PATCH -> 204" 204 "$ST"
	check_eq "upload offset unchanged by the refused PATCH" "0-4999" "$(hdr Range)"
fi

# Every error body seen above was parsed with jq; an error must also say JSON.
req GET "$U/v2/ok/manifests/nope"
case $(hdr Content-Type) in application/json*) t_ok "error Content-Type is application/json" ;;
*) t_fail "error Content-Type is application/json" "got: $(hdr Content-Type)" ;; esac

wharf_stop
e2e_done
