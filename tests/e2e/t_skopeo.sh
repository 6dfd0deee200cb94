#!/usr/bin/env bash
# skopeo against the registry behind nginx: OCI and Docker schema 2 images,
# a multi-arch index, inspect, list-tags, a cross-repository mount.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl); then
	t_skip "skopeo push/pull" "$why"
	exit 0
fi
wharf_start || { t_fail "registry starts"; exit 1; }
R=$W_HOST

# --- OCI image, 3 layers -------------------------------------------------------
mkimage "$TMP/src" --tag v1 --layers 3 --size 400000 --seed skopeo-oci >"$TMP/src.digest"
src_digest=$(cat "$TMP/src.digest")
check "push OCI image (3 layers)" \
	skopeo_copy oci:"$TMP/src":v1 docker://$R/e2e/oci:v1 --preserve-digests --digestfile "$TMP/push.digest"
check_eq "pushed manifest digest is the source's" "$src_digest" "$(cat "$TMP/push.digest" 2>/dev/null)"
check "pull OCI image back" \
	skopeo_copy docker://$R/e2e/oci:v1 oci:"$TMP/back":v1 --preserve-digests
check_eq "pulled manifest digest equals pushed" "$src_digest" "$(oci_top_digest "$TMP/back" v1 2>/dev/null)"
check "pulled blobs byte-identical (manifest, config, 3 layers)" blobs_same "$TMP/src" "$TMP/back"
check "pulled blobs hash to their names" blobs_self_consistent "$TMP/back"
check "pull by digest" skopeo_copy docker://$R/e2e/oci@"$src_digest" oci:"$TMP/bydigest":x --preserve-digests
check "pull by digest byte-identical" blobs_same "$TMP/src" "$TMP/bydigest"

# --- Docker schema 2 -------------------------------------------------------------
mkimage "$TMP/src2" --tag v1 --layers 3 --size 300000 --seed skopeo-v2s2 >/dev/null
check "push as Docker schema 2 (--format v2s2)" \
	skopeo_copy oci:"$TMP/src2":v1 docker://$R/e2e/docker:v1 --format v2s2 --digestfile "$TMP/v2s2.digest"
check "pull Docker schema 2 to dir: unchanged" skopeo_copy docker://$R/e2e/docker:v1 dir:"$TMP/dir2"
mt=$(jq -r .mediaType "$TMP/dir2/manifest.json" 2>/dev/null)
check_eq "manifest media type is Docker schema 2" "application/vnd.docker.distribution.manifest.v2+json" "$mt"
check_eq "pulled v2s2 manifest bytes hash to the pushed digest" "$(cat "$TMP/v2s2.digest" 2>/dev/null)" \
	"sha256:$(sha256sum <"$TMP/dir2/manifest.json" | cut -d' ' -f1)"
# The OCI layout also holds the OCI manifest, which the v2s2 push replaced:
# every blob pulled (config + layers) must be byte-identical to the source's.
check "v2s2 config and layers byte-identical to the source" blobs_subset "$TMP/dir2" "$TMP/src2"
n=$(blob_sums "$TMP/dir2" | wc -l)
check_eq "v2s2 pull has config + 3 layers" 4 "$n"
raw=$("${SKOPEO[@]}" inspect --tls-verify=false --raw docker://$R/e2e/docker:v1 2>/dev/null | sha256sum | cut -d' ' -f1)
check_eq "inspect --raw of v2s2 matches the pushed digest" "$(cat "$TMP/v2s2.digest" 2>/dev/null)" "sha256:$raw"

# --- multi-arch index -------------------------------------------------------------
mkimage "$TMP/multi" --tag multi --multiarch --layers 2 --size 200000 --seed skopeo-multi >"$TMP/multi.digest"
check "push multi-arch index (--all)" \
	skopeo_copy oci:"$TMP/multi":multi docker://$R/e2e/multi:latest --all --preserve-digests
check "pull multi-arch index back (--all)" \
	skopeo_copy docker://$R/e2e/multi:latest oci:"$TMP/multiback":multi --all --preserve-digests
check_eq "index digest identical" "$(cat "$TMP/multi.digest")" "$(oci_top_digest "$TMP/multiback" multi 2>/dev/null)"
check "index, 2 manifests, configs, layers byte-identical" blobs_same "$TMP/multi" "$TMP/multiback"
for arch in amd64 arm64; do
	a=$("${SKOPEO[@]}" inspect --tls-verify=false --override-arch $arch --override-os linux \
		docker://$R/e2e/multi:latest 2>/dev/null | jq -r .Architecture)
	check_eq "inspect resolves the $arch manifest of the index" "$arch" "$a"
done

# --- inspect, list-tags ---------------------------------------------------------------
check "push a second tag" skopeo_copy oci:"$TMP/src":v1 docker://$R/e2e/oci:v2 --preserve-digests
d=$("${SKOPEO[@]}" inspect --tls-verify=false docker://$R/e2e/oci:v1 2>"$TMP/inspect.err" | jq -r .Digest)
check_eq "skopeo inspect Digest" "$src_digest" "$d"
nl=$("${SKOPEO[@]}" inspect --tls-verify=false docker://$R/e2e/oci:v1 2>/dev/null | jq -r '.Layers | length')
check_eq "skopeo inspect lists 3 layers" 3 "$nl"
tags=$("${SKOPEO[@]}" list-tags --tls-verify=false docker://$R/e2e/oci 2>/dev/null | jq -c '.Tags | sort')
check_eq "skopeo list-tags" '["v1","v2"]' "$tags"

# --- cross-repository copy (blob mount) -------------------------------------------------
: >"$W_DIR/nginx-access.log" 2>/dev/null
check "copy to another repository of the same registry" \
	skopeo_copy docker://$R/e2e/oci:v1 docker://$R/e2e/other:v1 --preserve-digests
if [ -f "$W_DIR/nginx-access.log" ]; then
	# skopeo mounts the layers it saw in e2e/oci (its blob-info cache): three
	# POST ...?from=e2e%2Foci&mount=sha256:... answered 201 Created, no upload.
	n=$(grep -cE '"POST /v2/e2e/other/blobs/uploads/\?[^ "]*mount=sha256%3A[0-9a-f]{64}[^ "]* HTTP/1.1" 201 ' \
		"$W_DIR/nginx-access.log")
	check_eq "3 layers mounted across repositories (201)" 3 "$n"
fi
check "pull from the mounted repository" \
	skopeo_copy docker://$R/e2e/other:v1 oci:"$TMP/other":v1 --preserve-digests
check "mounted repository byte-identical" blobs_same "$TMP/src" "$TMP/other"
ml=$(curl -s -o /dev/null -w '%{http_code}' -I \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$W_URL/v2/e2e/other/manifests/v1")
check_eq "HEAD manifest in the mounted repository" 200 "$ml"

# --- delete ---------------------------------------------------------------------------
check "skopeo delete a manifest" "${SKOPEO[@]}" delete --tls-verify=false docker://$R/e2e/oci:v2
code=$(curl -s -o /dev/null -w '%{http_code}' "$W_URL/v2/e2e/oci/manifests/$src_digest")
check_eq "deleted manifest is gone" 404 "$code"

wharf_stop
e2e_done
