#!/usr/bin/env bash
# Chunked uploads to the letter of the OCI spec (416 with Range for a chunk not
# at the offset, stale chunks, GET status 204 with Range and Location,
# Content-Range/Content-Length disagreement, last chunk on the final PUT);
# cross-repository mount with and without from=; pagination of tags/list and
# _catalog (n, last, Link, n=0, invalid and huge n).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "uploads" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "uploads" "the reference answers out-of-order chunks with 202"; exit 0; }
wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

head -c 30000 /dev/urandom >"$TMP/blob"
head -c 10000 "$TMP/blob" >"$TMP/c1"
tail -c +10001 "$TMP/blob" | head -c 10000 >"$TMP/c2"
tail -c +20001 "$TMP/blob" >"$TMP/c3"
D=$(sha "$TMP/blob")

req POST "$U/v2/up/a/blobs/uploads/"
check_eq "POST: 202" 202 "$ST"
check "POST: no OCI-Chunk-Min-Length (no minimum applies)" test -z "$(hdr OCI-Chunk-Min-Length)"
LOC=$(hdr Location)
case $LOC in /*) LOC=$U$LOC ;; esac
req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-9999' --data-binary @"$TMP/c1"
check_eq "chunk 1: 202 Range 0-9999" "202 0-9999" "$ST $(hdr Range)"
LOC2=$(hdr Location)
case $LOC2 in /*) LOC2=$U$LOC2 ;; esac
req PATCH "$LOC2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 15000-24999' --data-binary @"$TMP/c2"
check_eq "chunk not at the offset: 416 with the current Range" "416 0-9999" "$ST $(hdr Range)"
check "416 carries Location" test -n "$(hdr Location)"
req PATCH "$LOC2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-9999' --data-binary @"$TMP/c1"
check_eq "stale (retried) chunk: 416" "416 0-9999" "$ST $(hdr Range)"
req PATCH "$LOC2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 10000-10999' --data-binary @"$TMP/c2"
check_eq "Content-Range and Content-Length disagree: 400" 400 "$ST"
req GET "$LOC2"
check_eq "GET status: 204 with Range" "204 0-9999" "$ST $(hdr Range)"
check "GET status: Location" test -n "$(hdr Location)"
req PATCH "$LOC2" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 10000-19999' --data-binary @"$TMP/c2"
check_eq "chunk 2: 202 Range 0-19999" "202 0-19999" "$ST $(hdr Range)"
LOC3=$(hdr Location)
case $LOC3 in /*) LOC3=$U$LOC3 ;; esac
case $LOC3 in *\?*) SEP='&' ;; *) SEP='?' ;; esac
req PUT "$LOC3${SEP}digest=$D" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 20000-29999' --data-binary @"$TMP/c3"
check_eq "final PUT carrying the last chunk: 201" "201 $D" "$ST $(hdr Docker-Content-Digest)"
check_eq "blob content" "$D" "$(curl -s "$U/v2/up/a/blobs/$D" | sha256sum | sed 's/ .*//; s/^/sha256:/')"
req GET "$LOC3"
check_eq "finished upload: 404 BLOB_UPLOAD_UNKNOWN" "404 BLOB_UPLOAD_UNKNOWN" "$ST $(errcode)"

# ---- mount ------------------------------------------------------------------------
req POST "$U/v2/up/b/blobs/uploads/?mount=$D&from=up/a"
check_eq "mount from a repository holding it: 201" "201 $D" "$ST $(hdr Docker-Content-Digest)"
req POST "$U/v2/up/c/blobs/uploads/?mount=$D&from=up/nothere"
check_eq "mount from a repository without it: 202 upload session" 202 "$ST"
check "fallback session has a Location" test -n "$(hdr Location)"
# ?mount= without from: the blob must be linked in some readable repository,
# which needs a manifest there for the catalog walk
mk_image up/a img
put_manifest up/a v1 "$TMP/img.json" $OCI_MANIFEST
req POST "$U/v2/up/d/blobs/uploads/?mount=$D"
check_eq "mount without from (blob known): 201" "201 $D" "$ST $(hdr Docker-Content-Digest)"
req HEAD "$U/v2/up/d/blobs/$D"
check_eq "mounted blob is in the new repository" 200 "$ST"
req POST "$U/v2/up/e/blobs/uploads/?mount=sha256:$(printf '%064d' 3)"
check_eq "mount without from (blob unknown): 202" 202 "$ST"
# from= is read as the target's name is, on its whole decoded value: a refused
# one is a plain upload session and puts no blob in the target (nor is it
# taken for a mount without from)
i=0
for bad in 'up%00' 'up/a%00' 'up%00/a' '' 'up/a%2f..' '..%2fup%2fa' 'up/a%2F%2E%2E%2Fb' 'up/a%20' 'UP/A' 'up//a' '%2fup/a' 'up/a%'; do
	i=$((i + 1))
	req POST "$U/v2/up/f$i/blobs/uploads/?mount=$D&from=$bad"
	check_eq "mount from=$bad: 202 upload session" 202 "$ST"
	req HEAD "$U/v2/up/f$i/blobs/$D"
	check_eq "mount from=$bad: no blob in the target" 404 "$ST"
done
req POST "$U/v2/up/g/blobs/uploads/?mount=$D&from=up%2Fa"
check_eq "from=up%2Fa (clients escape the slash): mounted" "201 $D" "$ST $(hdr Docker-Content-Digest)"

# ---- pagination ---------------------------------------------------------------------
for t in e d c b a 1.0 zz; do put_manifest up/a "$t" "$TMP/img.json" $OCI_MANIFEST; done
check_eq "tags in lexical order" '["1.0","a","b","c","d","e","v1","zz"]' "$(curl -s "$U/v2/up/a/tags/list" | jq -c .tags)"
req GET "$U/v2/up/a/tags/list?n=3"
check_eq "n=3: first three" '["1.0","a","b"]' "$(jq -c .tags "$BODY")"
check_eq "n=3: Link to the next page" '</v2/up/a/tags/list?last=b&n=3>; rel="next"' "$(hdr Link)"
req GET "$U/v2/up/a/tags/list?n=3&last=b"
check_eq "last=b: the next three" '["c","d","e"]' "$(jq -c .tags "$BODY")"
req GET "$U/v2/up/a/tags/list?n=3&last=e"
check_eq "last page: no Link" '["v1","zz"] x' "$(jq -c .tags "$BODY") $(hdr Link)x"
req GET "$U/v2/up/a/tags/list?n=0"
check_eq "n=0: empty list, no Link" '[] x' "$(jq -c .tags "$BODY") $(hdr Link)x"
req GET "$U/v2/up/a/tags/list?n=-1"
check_eq "negative n: PAGINATION_NUMBER_INVALID" "400 PAGINATION_NUMBER_INVALID" "$ST $(errcode)"
req GET "$U/v2/up/a/tags/list?n=abc"
check_eq "non-numeric n: PAGINATION_NUMBER_INVALID" "400 PAGINATION_NUMBER_INVALID" "$ST $(errcode)"
req GET "$U/v2/up/a/tags/list?n=99999999999999999999999"
check_eq "huge n: clamped, all tags" "200 8" "$ST $(jq '.tags | length' "$BODY")"
for r in b c d; do mk_image up/$r i$r; put_manifest up/$r v1 "$TMP/i$r.json" $OCI_MANIFEST; done
req GET "$U/v2/_catalog?n=2"
check_eq "catalog n=2" '["up/a","up/b"]' "$(jq -c .repositories "$BODY")"
check_eq "catalog Link" '</v2/_catalog?last=up%2Fb&n=2>; rel="next"' "$(hdr Link)"
req GET "$U/v2/_catalog?n=2&last=up%2Fb"
check_eq "catalog next page" '["up/c","up/d"]' "$(jq -c .repositories "$BODY")"
wharf_stop
e2e_done
