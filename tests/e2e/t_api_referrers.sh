#!/usr/bin/env bash
# Referrers API (OCI Distribution 1.1), pushed with plain HTTP (curl): the index
# of manifests whose subject is a digest, artifactType filter, OCI-Subject,
# delete; then whole-repository delete from `wharf repository delete`, and the
# reference registry (2.8.2) serving and garbage-collecting the root Wharf wrote
# (referrers index, a deleted tag, a deleted repository), with and without
# --delete-untagged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "referrers API" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "referrers API" "the reference has no referrers API"; exit 0; }
wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL
R=ref/app

# the subject: an image, tagged
mk_image $R img
put_manifest $R v1 "$TMP/img.json" $OCI_MANIFEST
check_eq "subject image pushed" 201 "$ST"
SUBJ=$(sha "$TMP/img.json")
check_eq "no OCI-Subject without a subject" x "$(hdr OCI-Subject)x"

# the empty config of artifacts
printf '{}' >"$TMP/empty"
put_blob $R "$TMP/empty" >/dev/null
check_eq "empty config blob" 201 "$ST"
SUBJ_DESC=$(desc $OCI_MANIFEST "$TMP/img.json")

# artifact 1: artifactType + annotations, empty config
echo "signature bytes" >"$TMP/sig"
put_blob $R "$TMP/sig" >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":%s,"annotations":{"org.example.who":"e2e"}}' \
	$OCI_MANIFEST "$(desc $OCI_EMPTY "$TMP/empty")" "$(desc application/octet-stream "$TMP/sig")" "$SUBJ_DESC" >"$TMP/a1.json"
put_manifest $R "$(sha "$TMP/a1.json")" "$TMP/a1.json" $OCI_MANIFEST
check_eq "artifact with subject pushed by digest" 201 "$ST"
check_eq "OCI-Subject answers the subject" "$SUBJ" "$(hdr OCI-Subject)"

# artifact 2: no artifactType: the config's media type stands in
echo '{"sbom":true}' >"$TMP/sbomcfg"
put_blob $R "$TMP/sbomcfg" >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"subject":%s}' \
	$OCI_MANIFEST "$(desc application/vnd.example.sbom.config "$TMP/sbomcfg")" "$SUBJ_DESC" >"$TMP/a2.json"
put_manifest $R sbom "$TMP/a2.json" $OCI_MANIFEST
check_eq "artifact with subject pushed by tag" 201 "$ST"
check_eq "OCI-Subject for a tag push" "$SUBJ" "$(hdr OCI-Subject)"

# artifact 3: an index with a subject and an artifactType
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.bundle","manifests":[],"subject":%s}' \
	$OCI_INDEX "$SUBJ_DESC" >"$TMP/a3.json"
put_manifest $R "$(sha "$TMP/a3.json")" "$TMP/a3.json" $OCI_INDEX
check_eq "index with subject pushed" 201 "$ST"

req GET "$U/v2/$R/referrers/$SUBJ"
check_eq "referrers: 200" 200 "$ST"
check_eq "referrers: Content-Type is an OCI index" "$OCI_INDEX" "$(hdr Content-Type)"
check_eq "referrers: body is an OCI index" "2 $OCI_INDEX" "$(jq -r '"\(.schemaVersion) \(.mediaType)"' "$BODY")"
check_eq "referrers: three entries" 3 "$(jq '.manifests | length' "$BODY")"
check_eq "referrers: no filter header unfiltered" "x" "$(hdr OCI-Filters-Applied)x"
A1=$(sha "$TMP/a1.json")
check_eq "referrers: artifactType, size, mediaType of artifact 1" \
	"application/vnd.example.sig $(fsize "$TMP/a1.json") $OCI_MANIFEST e2e" \
	"$(jq -r --arg d "$A1" '.manifests[] | select(.digest == $d) | "\(.artifactType) \(.size) \(.mediaType) \(.annotations["org.example.who"])"' "$BODY")"
check_eq "referrers: config mediaType stands in for a missing artifactType" \
	application/vnd.example.sbom.config \
	"$(jq -r --arg d "$(sha "$TMP/a2.json")" '.manifests[] | select(.digest == $d) | .artifactType' "$BODY")"
check_eq "referrers: an index referrer" "$OCI_INDEX application/vnd.example.bundle" \
	"$(jq -r --arg d "$(sha "$TMP/a3.json")" '.manifests[] | select(.digest == $d) | "\(.mediaType) \(.artifactType)"' "$BODY")"

req GET "$U/v2/$R/referrers/$SUBJ?artifactType=application/vnd.example.sig"
check_eq "filtered: 200" 200 "$ST"
check_eq "filtered: OCI-Filters-Applied" artifactType "$(hdr OCI-Filters-Applied)"
check_eq "filtered: only the signature" "$A1" "$(jq -r '[.manifests[].digest] | join(",")' "$BODY")"

req GET "$U/v2/$R/referrers/sha256:$(printf '%064d' 0)"
check_eq "unknown digest: 200" 200 "$ST"
check_eq "unknown digest: empty index" "0 $OCI_INDEX" "$(jq -r '"\(.manifests | length) \(.mediaType)"' "$BODY")"
req GET "$U/v2/nosuch/repo/referrers/$SUBJ"
check_eq "unknown repository: 200 empty" "200 0" "$ST $(jq '.manifests | length' "$BODY")"
req GET "$U/v2/$R/referrers/sha256:xyz"
check_eq "invalid digest: 400 DIGEST_INVALID" "400 DIGEST_INVALID" "$ST $(errcode)"

# the subject may be pushed after its referrers (spec: accepted)
mk_image $R later
LATER_DESC=$(desc $OCI_MANIFEST "$TMP/later.json")
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":%s}' \
	$OCI_MANIFEST "$(desc $OCI_EMPTY "$TMP/empty")" "$(desc application/octet-stream "$TMP/sig")" "$LATER_DESC" >"$TMP/a4.json"
put_manifest $R "$(sha "$TMP/a4.json")" "$TMP/a4.json" $OCI_MANIFEST
check_eq "referrer of a missing subject accepted" 201 "$ST"
req GET "$U/v2/$R/referrers/$(sha "$TMP/later.json")"
check_eq "listed before its subject exists" "$(sha "$TMP/a4.json")" "$(jq -r '.manifests[0].digest' "$BODY")"

# the index is kept at push time: no scan of every manifest
IDX="$W_ROOT/docker/registry/v2/repositories/$R/_manifests/referrers/sha256/${SUBJ#sha256:}/sha256/${A1#sha256:}/link"
check_eq "index link on disk" "$A1" "$(cat "$IDX" 2>/dev/null)"

# ---- pagination: Link rel="next", never a silent cut -------------------------
# next_link: the path of the last req's Link rel="next", or nothing
next_link() { hdr Link | sed -n 's/^<\([^>]*\)>; *rel="next"$/\1/p'; }
# walk_pages URL: follow Link from URL; prints "pages digests..." (all pages' digests)
walk_pages() {
	local url=$1 pages=0 all="" l
	while [ -n "$url" ] && [ "$pages" -lt 50 ]; do
		req GET "$url"
		[ "$ST" = 200 ] || { echo "status $ST"; return; }
		pages=$((pages + 1))
		all="$all $(jq -r '[.manifests[].digest] | join(" ")' "$BODY")"
		l=$(next_link)
		url=${l:+$U$l}
	done
	echo "$pages$all"
}
mk_image $R pg
put_manifest $R pg "$TMP/pg.json" $OCI_MANIFEST
PG=$(sha "$TMP/pg.json")
PG_DESC=$(desc $OCI_MANIFEST "$TMP/pg.json")
want=""
for i in 1 2 3 4 5; do
	at=application/vnd.example.sig; [ $((i % 2)) = 0 ] && at=application/vnd.example+even
	printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[],"subject":%s,"annotations":{"i":"%s"}}' \
		$OCI_MANIFEST "$at" "$(desc $OCI_EMPTY "$TMP/empty")" "$PG_DESC" $i >"$TMP/p$i.json"
	put_manifest $R "$(sha "$TMP/p$i.json")" "$TMP/p$i.json" $OCI_MANIFEST
	want="$want $(sha "$TMP/p$i.json")"
done
want=$(echo $want | tr ' ' '\n' | sort | tr '\n' ' ')
req GET "$U/v2/$R/referrers/$PG?n=2"
check_eq "n=2: two entries" 2 "$(jq '.manifests | length' "$BODY")"
check_eq "n=2: Link rel=next resumes after the page's last digest" \
	"/v2/$R/referrers/$PG?last=$(jq -r '.manifests[1].digest' "$BODY")&n=2" "$(next_link)"
got=$(walk_pages "$U/v2/$R/referrers/$PG?n=2")
check_eq "n=2: three pages, every referrer once, in digest order" "3 ${want% }" "$got"
got=$(walk_pages "$U/v2/$R/referrers/$PG")
check_eq "default page size: one page, no Link" "1 ${want% }" "$got"
req GET "$U/v2/$R/referrers/$PG?n=1&artifactType=application/vnd.example%2Beven"
check_eq "filtered page: Link keeps the filter (escaped)" \
	"/v2/$R/referrers/$PG?last=$(jq -r '.manifests[0].digest' "$BODY")&n=1&artifactType=application%2Fvnd.example%2Beven" \
	"$(next_link)"
evens=$(for i in 2 4; do sha "$TMP/p$i.json"; done | sort | tr '\n' ' ')
got=$(walk_pages "$U/v2/$R/referrers/$PG?n=1&artifactType=application/vnd.example%2Beven")
check_eq "filtered pages: the two matching referrers" "2 ${evens% }" "$got"
req GET "$U/v2/$R/referrers/$PG?n=0"
check_eq "n=0: 400 PAGINATION_NUMBER_INVALID" "400 PAGINATION_NUMBER_INVALID" "$ST $(errcode)"
req GET "$U/v2/$R/referrers/$PG?last=junk"
check_eq "last not a digest: 400" 400 "$ST"

# more than one default page (1000): written into the layout directly (as
# Wharf's push would: blob, revision link, referrers index link), since 1,200
# pushes through curl would be slow
N_MANY=1001
"$PYTHON" - "$W_ROOT/docker/registry/v2" "$R" "$N_MANY" "$PG_DESC" "$(desc $OCI_EMPTY "$TMP/empty")" $OCI_MANIFEST >"$TMP/many.txt" <<'PY'
import hashlib, os, sys
v2, repo, n, subj, cfg, mt = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
import json
sd = json.loads(subj)["digest"].split(":")[1]
def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
for i in range(n):
    body = ('{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.many","config":%s,'
            '"layers":[],"subject":%s,"annotations":{"i":"%d"}}' % (mt, cfg, subj, i)).encode()
    h = hashlib.sha256(body).hexdigest()
    put("%s/blobs/sha256/%s/%s/data" % (v2, h[:2], h), body)
    r = "%s/repositories/%s/_manifests" % (v2, repo)
    put("%s/revisions/sha256/%s/link" % (r, h), b"sha256:" + h.encode())
    put("%s/referrers/sha256/%s/sha256/%s/link" % (r, sd, h), b"sha256:" + h.encode())
    print("sha256:" + h)
PY
req GET "$U/v2/$R/referrers/$PG?artifactType=application/vnd.example.many"
check_eq "$N_MANY referrers: a first page of 1000 with a Link" "200 1000 yes" \
	"$ST $(jq '.manifests | length' "$BODY") $([ -n "$(next_link)" ] && echo yes)"
got=$(walk_pages "$U/v2/$R/referrers/$PG?artifactType=application/vnd.example.many")
check_eq "$N_MANY referrers: two pages, every one listed once" \
	"2 $(sort "$TMP/many.txt" | tr '\n' ' ' | sed 's/ $//')" "$got"
# out of the layout again: the reference's garbage collections below need not read them
V2=$W_ROOT/docker/registry/v2
while read -r d; do
	h=${d#sha256:}
	rm -rf "$V2/blobs/sha256/${h:0:2}/$h" "$V2/repositories/$R/_manifests/revisions/sha256/$h" \
		"$V2/repositories/$R/_manifests/referrers/sha256/${PG#sha256:}/sha256/$h"
done <"$TMP/many.txt"

# delete a referrer: its entry goes
req DELETE "$U/v2/$R/manifests/$A1"
check_eq "delete referrer: 202" 202 "$ST"
req GET "$U/v2/$R/referrers/$SUBJ"
check_eq "deleted referrer no longer listed" 2 "$(jq '.manifests | length' "$BODY")"
check "deleted referrer's index entry removed" test ! -e "$IDX"

# a second repository with a tag to delete, a third to delete whole
mk_image other/keep k
put_manifest other/keep a "$TMP/k.json" $OCI_MANIFEST
put_manifest other/keep b "$TMP/k.json" $OCI_MANIFEST
req DELETE "$U/v2/other/keep/manifests/a"
check_eq "tag delete: 202" 202 "$ST"
req GET "$U/v2/other/keep/tags/list"
check_eq "tag delete removes only the tag" '["b"]' "$(jq -c .tags "$BODY")"
req GET "$U/v2/other/keep/manifests/b"
check_eq "image still served by its other tag" 200 "$ST"
mk_image gone/repo g
put_manifest gone/repo v1 "$TMP/g.json" $OCI_MANIFEST
check_eq "repository to delete pushed" 201 "$ST"
check_eq "catalog before" '["gone/repo","other/keep","ref/app"]' "$(curl -s "$U/v2/_catalog" | jq -c .repositories)"

check "wharf repository delete" "$WHARF_BIN" repository delete -c "$W_DIR/config.yml" gone/repo
check "wharf repository delete: unknown name fails" bash -c "! '$WHARF_BIN' repository delete -c '$W_DIR/config.yml' gone/nothere"
check_eq "deleted repository left the catalog" '["other/keep","ref/app"]' "$(curl -s "$U/v2/_catalog" | jq -c .repositories)"
req GET "$U/v2/gone/repo/tags/list"
check_eq "deleted repository: NAME_UNKNOWN" "404 NAME_UNKNOWN" "$ST $(errcode)"
wharf_stop

# ---- the reference registry on the same root -----------------------------------
if ! need_cmd docker-registry >/dev/null; then
	t_skip "reference registry on Wharf's root" "no docker-registry"
	e2e_done
	exit $?
fi
ROOT=$W_ROOT
refreg_config "$TMP/ref.yml" "$ROOT" "$(free_port)"
cp -a "$ROOT" "$TMP/root-copy"
check "reference garbage-collect --dry-run" env -u AWS_CA_BUNDLE docker-registry garbage-collect --dry-run "$TMP/ref.yml"
check "reference garbage-collect" env -u AWS_CA_BUNDLE docker-registry garbage-collect "$TMP/ref.yml"
check "blob of the deleted repository collected" test ! -e "$(store_blob_path "$ROOT" "$(sha "$TMP/g.layer")")"
check "blob of a referrer kept" test -e "$(store_blob_path "$ROOT" "$(sha "$TMP/sig")")"
if refreg_start "$TMP/ref" "$ROOT"; then
	H=http://$R_HOST
	check_eq "reference: catalog" '["other/keep","ref/app"]' "$(curl -s "$H/v2/_catalog" | jq -c .repositories)"
	check_eq "reference: serves the subject" "$SUBJ" \
		"$(curl -s -o /dev/null -D - -H "Accept: $OCI_MANIFEST" "$H/v2/$R/manifests/v1" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')"
	check_eq "reference: serves a referrer" 200 \
		"$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI_MANIFEST" "$H/v2/$R/manifests/$(sha "$TMP/a2.json")")"
	check_eq "reference: serves a layer" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$H/v2/$R/blobs/$(sha "$TMP/img.layer")")"
	check_eq "reference: tags after Wharf's tag delete" '["b"]' "$(curl -s "$H/v2/other/keep/tags/list" | jq -c .tags)"
	refreg_stop
else
	t_fail "reference registry starts on Wharf's root"
fi
check "reference garbage-collect --delete-untagged" env -u AWS_CA_BUNDLE docker-registry garbage-collect --delete-untagged "$TMP/ref.yml"

# Wharf again on the collected root: untagged referrers are gone, stale index
# entries are skipped, the tagged one remains
if wharf_start "$ROOT"; then
	U=$W_URL
	req GET "$U/v2/$R/referrers/$SUBJ"
	check_eq "after --delete-untagged: only the tagged referrer" "$(sha "$TMP/a2.json")" \
		"$(jq -r '[.manifests[].digest] | join(",")' "$BODY")"
	req GET "$U/v2/$R/manifests/v1" -H "Accept: $OCI_MANIFEST"
	check_eq "after GC: subject still served by Wharf" 200 "$ST"
	wharf_stop
else
	t_fail "wharf starts on the collected root"
fi
e2e_done
