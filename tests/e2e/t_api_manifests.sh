#!/usr/bin/env bash
# Manifests of every media type; a Docker manifest list asked for by a client
# that accepts only schema 2, compared with the reference registry (2.8.2) side
# by side; compatibility.schema1; validation.manifests.urls (PCRE2) and
# validation.manifests.indexes.platforms; read-only mode (statuses as the
# reference: 405 with Allow); fastcgi.limits.namecomponents. Configuration
# variants come from REGISTRY_* variables.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx skopeo); then
	t_skip "manifests" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "manifests" "Wharf-specific configuration"; exit 0; }
wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL
ROOT=$W_ROOT

# ---- every media type, Content-Type = mediaType -------------------------------
mk_image mt/oci o
put_manifest mt/oci v1 "$TMP/o.json" $OCI_MANIFEST
check_eq "OCI manifest pushed" 201 "$ST"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' $D2_MANIFEST \
	"$(desc $D2_CONFIG "$TMP/o.cfg")" "$(desc $D2_LAYER "$TMP/o.layer")" >"$TMP/d2.json"
put_manifest mt/oci d2 "$TMP/d2.json" $D2_MANIFEST
check_eq "Docker schema 2 pushed" 201 "$ST"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
	$OCI_INDEX $OCI_MANIFEST "$(sha "$TMP/o.json")" "$(fsize "$TMP/o.json")" >"$TMP/idx.json"
put_manifest mt/oci idx "$TMP/idx.json" $OCI_INDEX
check_eq "OCI index pushed" 201 "$ST"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
	$D2_LIST $D2_MANIFEST "$(sha "$TMP/d2.json")" "$(fsize "$TMP/d2.json")" >"$TMP/list.json"
put_manifest mt/oci list "$TMP/list.json" $D2_LIST
check_eq "Docker manifest list pushed" 201 "$ST"
printf '{}' >"$TMP/empty"
put_blob mt/oci "$TMP/empty" >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.thing","config":%s,"layers":[%s]}' \
	$OCI_MANIFEST "$(desc $OCI_EMPTY "$TMP/empty")" "$(desc $OCI_EMPTY "$TMP/empty")" >"$TMP/art.json"
put_manifest mt/oci art "$TMP/art.json" $OCI_MANIFEST
check_eq "OCI artifact (empty config) pushed" 201 "$ST"
ALL="$OCI_MANIFEST,$OCI_INDEX,$D2_MANIFEST,$D2_LIST"
for t in v1:$OCI_MANIFEST d2:$D2_MANIFEST idx:$OCI_INDEX list:$D2_LIST art:$OCI_MANIFEST; do
	req GET "$U/v2/mt/oci/manifests/${t%%:*}" -H "Accept: $ALL"
	check_eq "GET ${t%%:*}: Content-Type is its mediaType" "200 ${t#*:}" "$ST $(hdr Content-Type)"
done
put_manifest mt/oci bad "$TMP/d2.json" $OCI_MANIFEST
check_eq "Content-Type disagreeing with mediaType: MANIFEST_INVALID" "400 MANIFEST_INVALID" "$ST $(errcode)"

# ---- schema 1: refused by default ----------------------------------------------------
printf '{"schemaVersion":1,"name":"mt/s1","tag":"v1","architecture":"amd64","fsLayers":[{"blobSum":"%s"}],"history":[{"v1Compatibility":"{}"}],"signatures":[{"header":{"alg":"ES256"},"signature":"c2ln","protected":"cHJvdA"}]}' \
	"$(put_blob mt/s1 "$TMP/o.layer")" >"$TMP/s1.json"
put_manifest mt/s1 v1 "$TMP/s1.json" application/vnd.docker.distribution.manifest.v1+prettyjws
check_eq "schema 1 refused by default: 400 MANIFEST_INVALID" "400 MANIFEST_INVALID" "$ST $(errcode)"
check "schema 1 refusal names compatibility.schema1" grep -q 'compatibility.schema1' "$BODY"

# ---- URLs: refused unless allow is set -----------------------------------------------
foreign() { # foreign URL...: a Docker schema 2 manifest with a foreign layer
	local urls
	urls=$(printf '"%s",' "$@")
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:%s","size":10,"urls":[%s]}]}' \
		$D2_MANIFEST "$(desc $D2_CONFIG "$TMP/o.cfg")" "$(printf '%064d' 7)" "${urls%,}" >"$TMP/foreign.json"
}
foreign https://foreign.example/layer
put_manifest mt/oci f1 "$TMP/foreign.json" $D2_MANIFEST
check_eq "layer URL without urls.allow: MANIFEST_INVALID" "400 MANIFEST_INVALID" "$ST $(errcode)"

# ---- index platforms: all by default -----------------------------------------------
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"%s","digest":"sha256:%s","size":99,"platform":{"architecture":"arm64","os":"linux"}}]}' \
	$OCI_INDEX $OCI_MANIFEST "$(sha "$TMP/o.json")" "$(fsize "$TMP/o.json")" $OCI_MANIFEST "$(printf '%064d' 5)" >"$TMP/sparse.json"
put_manifest mt/oci sparse "$TMP/sparse.json" $OCI_INDEX
check_eq "index with a missing child (platforms: all): MANIFEST_BLOB_UNKNOWN" "400 MANIFEST_BLOB_UNKNOWN" "$ST $(errcode)"

# ---- descriptors against what is stored (issue 11) ---------------------------------------
# refused MSG FILE CT: a refused push (400 MANIFEST_INVALID) stores nothing
refused() {
	put_manifest mt/oci bad "$2" "$3"
	check_eq "$1: 400 MANIFEST_INVALID" "400 MANIFEST_INVALID" "$ST $(errcode)"
	check "$1: nothing stored" test ! -e "$(store_blob_path "$ROOT" "$(sha "$2")")"
}
cfgd=$(desc $OCI_CONFIG "$TMP/o.cfg")
lsz=$(fsize "$TMP/o.layer")
layer_sized() { # SIZE: the OCI manifest of o with its layer's size replaced
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
		$OCI_MANIFEST "$cfgd" $OCI_LAYER "$(sha "$TMP/o.layer")" "$1" >"$TMP/sized.json"
}
for sz in 18446744073709551616 18446744073709551615 9223372036854775808 99999999999999999999999 \
	-1 -9223372036854775809 "$lsz.0" 2.048e3 "\"$lsz\"" null; do
	layer_sized "$sz"
	refused "layer size $sz" "$TMP/sized.json" $OCI_MANIFEST
done
layer_sized $((lsz + 1))
refused "layer size one more than the blob" "$TMP/sized.json" $OCI_MANIFEST
layer_sized $((lsz - 1))
refused "layer size one less than the blob" "$TMP/sized.json" $OCI_MANIFEST
layer_sized "$lsz"
put_manifest mt/oci sized "$TMP/sized.json" $OCI_MANIFEST
check_eq "layer size equal to the blob's: accepted" 201 "$ST"
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
	$OCI_MANIFEST $OCI_CONFIG "$(sha "$TMP/o.cfg")" $(($(fsize "$TMP/o.cfg") + 7)) "$(desc $OCI_LAYER "$TMP/o.layer")" >"$TMP/cfgsz.json"
refused "config size differing from the blob's" "$TMP/cfgsz.json" $OCI_MANIFEST
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
	$OCI_INDEX $OCI_MANIFEST "$(sha "$TMP/o.json")" $(($(fsize "$TMP/o.json") - 1)) >"$TMP/idxsz.json"
refused "index entry size differing from the manifest's length" "$TMP/idxsz.json" $OCI_INDEX
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
	$OCI_INDEX $OCI_MANIFEST "$(sha "$TMP/o.json")" 18446744073709551616 >"$TMP/idxsz.json"
refused "index entry size 2^64" "$TMP/idxsz.json" $OCI_INDEX
# CVE-2021-41190: one document, two readings
idxent=$(printf '{"mediaType":"%s","digest":"%s","size":%s}' $OCI_MANIFEST "$(sha "$TMP/o.json")" "$(fsize "$TMP/o.json")")
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"manifests":[%s]}' \
	$OCI_MANIFEST "$cfgd" "$(desc $OCI_LAYER "$TMP/o.layer")" "$idxent" >"$TMP/both.json"
refused "image manifest carrying manifests too" "$TMP/both.json" $OCI_MANIFEST
sed "s|\"mediaType\":\"$OCI_MANIFEST\",\"config\"|\"mediaType\":\"$OCI_INDEX\",\"config\"|" "$TMP/both.json" >"$TMP/both-idx.json"
refused "index carrying config and layers too" "$TMP/both-idx.json" $OCI_INDEX
printf '{"schemaVersion":2,"config":%s,"layers":[%s],"manifests":[%s]}' \
	"$cfgd" "$(desc $OCI_LAYER "$TMP/o.layer")" "$idxent" >"$TMP/both-nomt.json"
refused "no mediaType, layers and manifests" "$TMP/both-nomt.json" $OCI_INDEX
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' \
	$OCI_INDEX "$cfgd" "$(desc $OCI_LAYER "$TMP/o.layer")" >"$TMP/shape.json"
refused "mediaType index on an image's shape" "$TMP/shape.json" $OCI_INDEX
printf '{"schemaVersion":2,"config":%s,"layers":[%s]}' "$cfgd" "$(desc $OCI_LAYER "$TMP/o.layer")" >"$TMP/nomt.json"
refused "no mediaType, Content-Type index on an image's shape" "$TMP/nomt.json" $OCI_INDEX
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' $OCI_MANIFEST "$idxent" >"$TMP/shape2.json"
refused "mediaType image manifest on an index's shape" "$TMP/shape2.json" $OCI_MANIFEST

# ---- name components limit (default 32) ------------------------------------------------
deep=$(printf 'a/%.0s' $(seq 1 32))b
req GET "$U/v2/$deep/tags/list"
check_eq "33 path components: NAME_INVALID" "400 NAME_INVALID" "$ST $(errcode)"
wharf_stop

# ---- the same root with schema1, urls, platforms, namecomponents configured -----------
export REGISTRY_COMPATIBILITY_SCHEMA1_ENABLED=true
export REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW='["^https://foreign\\.example/"]'
export REGISTRY_VALIDATION_MANIFESTS_URLS_DENY='["/forbidden/"]'
export REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS=list
export REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMLIST='[{architecture: amd64, os: linux}]'
export REGISTRY_FASTCGI_LIMITS_NAMECOMPONENTS=2
wharf_start "$ROOT" || { t_fail "registry starts with validation settings"; exit 1; }
unset REGISTRY_COMPATIBILITY_SCHEMA1_ENABLED REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW \
	REGISTRY_VALIDATION_MANIFESTS_URLS_DENY REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS \
	REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMLIST REGISTRY_FASTCGI_LIMITS_NAMECOMPONENTS
U=$W_URL
put_manifest mt/s1 v1 "$TMP/s1.json" application/vnd.docker.distribution.manifest.v1+prettyjws
check_eq "schema 1 accepted with compatibility.schema1.enabled" 201 "$ST"
foreign https://foreign.example/layer
put_manifest mt/oci f1 "$TMP/foreign.json" $D2_MANIFEST
check_eq "URL matching allow: accepted" 201 "$ST"
foreign https://foreign.example/layer https://elsewhere.example/x
put_manifest mt/oci f2 "$TMP/foreign.json" $D2_MANIFEST
check_eq "one URL not matching allow: refused" "400 MANIFEST_INVALID" "$ST $(errcode)"
foreign https://foreign.example/forbidden/layer
put_manifest mt/oci f3 "$TMP/foreign.json" $D2_MANIFEST
check_eq "URL matching deny: refused" "400 MANIFEST_INVALID" "$ST $(errcode)"
foreign http://foreign.example/x#frag
put_manifest mt/oci f4 "$TMP/foreign.json" $D2_MANIFEST
check_eq "URL with a fragment: refused" "400 MANIFEST_INVALID" "$ST $(errcode)"
put_manifest mt/oci sparse "$TMP/sparse.json" $OCI_INDEX
check_eq "platforms: list (linux/amd64): missing arm64 child accepted" 201 "$ST"
sed 's/"arm64"/"amd64"/; s/"amd64","os":"linux"}},/"386","os":"linux"}},/' "$TMP/sparse.json" >"$TMP/sparse2.json"
put_manifest mt/oci sparse2 "$TMP/sparse2.json" $OCI_INDEX
check_eq "platforms: list: missing linux/amd64 child refused" "400 MANIFEST_BLOB_UNKNOWN" "$ST $(errcode)"
req GET "$U/v2/a/b/c/tags/list"
check_eq "namecomponents 2: a/b/c is NAME_INVALID" "400 NAME_INVALID" "$ST $(errcode)"
req GET "$U/v2/mt/oci/tags/list"
check_eq "namecomponents 2: mt/oci still served" 200 "$ST"
wharf_stop

# ---- read-only on the same root: schema 1 still served, writes 405 -------------------------
export REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED=true
wharf_start "$ROOT" || { t_fail "registry starts read-only"; exit 1; }
unset REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED
U=$W_URL
req GET "$U/v2/mt/s1/manifests/v1"
check_eq "stored schema 1 served with schema 1 disabled" "200 application/vnd.docker.distribution.manifest.v1+prettyjws" "$ST $(hdr Content-Type)"
req GET "$U/v2/mt/oci/manifests/v1" -H "Accept: $OCI_MANIFEST"
check_eq "read-only: manifest GET works" 200 "$ST"
req GET "$U/v2/mt/oci/blobs/$(sha "$TMP/o.layer")"
check_eq "read-only: blob GET works" 200 "$ST"
req GET "$U/v2/_catalog"
check_eq "read-only: catalog works" 200 "$ST"
req POST "$U/v2/mt/oci/blobs/uploads/"
check_eq "read-only: upload start 405 UNSUPPORTED" "405 UNSUPPORTED" "$ST $(errcode)"
put_manifest mt/oci new "$TMP/o.json" $OCI_MANIFEST
check_eq "read-only: manifest PUT 405" "405 UNSUPPORTED" "$ST $(errcode)"
check_eq "read-only: Allow as the reference" "GET, HEAD" "$(hdr Allow)"
req DELETE "$U/v2/mt/oci/manifests/$(sha "$TMP/o.json")"
check_eq "read-only: manifest DELETE 405" "405 UNSUPPORTED" "$ST $(errcode)"
req DELETE "$U/v2/mt/oci/blobs/$(sha "$TMP/o.layer")"
check_eq "read-only: blob DELETE 405" "405 UNSUPPORTED" "$ST $(errcode)"
wharf_stop

# ---- a Docker manifest list to a schema-2-only client: Wharf beside the reference -------
if need_cmd docker-registry >/dev/null; then
	mkimage "$TMP/multi" --tag m --multiarch --layers 1 --size 20000 --seed api-list >/dev/null
	wharf_start || { t_fail "registry starts"; exit 1; }
	refreg_start "$TMP/refl" "$TMP/refl-data" || t_fail "reference starts"
	for h in "$W_HOST" "$R_HOST"; do
		check "push a Docker manifest list to $h" skopeo_copy oci:"$TMP/multi":m docker://$h/l/multi:m --all --format v2s2
	done
	# status, Content-Type and digest of GET by tag with an Accept header
	get3() { curl -s -o /dev/null -D - ${2:+-H "Accept: $2"} "http://$1/v2/l/multi/manifests/m" | tr -d '\r' |
		awk 'tolower($1) ~ /^(docker-content-digest|content-type):$/ {printf "%s ", $2} /^HTTP/ {printf "%s ", $2}'; }
	for acc in "$D2_MANIFEST" "$D2_MANIFEST, $D2_LIST" "$D2_LIST"; do
		check_eq "manifest list, Accept: $acc: as the reference" "$(get3 "$R_HOST" "$acc")" "$(get3 "$W_HOST" "$acc")"
	done
	# A client accepting neither the list nor schema 2 gets a schema 1 rewrite
	# from the reference (signed with its own key); Wharf does not convert to
	# schema 1 and serves the same linux/amd64 schema 2 image instead.
	amd64=$(get3 "$R_HOST" "$D2_MANIFEST")
	for acc in "$OCI_MANIFEST" "" "*/*"; do
		check_eq "manifest list, Accept: ${acc:-none}: the linux/amd64 schema 2 image" "$amd64" "$(get3 "$W_HOST" "$acc")"
	done
	refreg_stop
	wharf_stop
else
	t_skip "manifest list beside the reference" "no docker-registry"
fi
e2e_done
