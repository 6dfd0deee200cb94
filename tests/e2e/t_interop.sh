#!/usr/bin/env bash
# Storage compatibility with the reference registry (CNCF Distribution):
# (a) what Wharf writes, the reference serves; (b) what the reference writes,
# Wharf serves — byte-identical images, same tags, same catalog.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd docker-registry skopeo jq nginx curl); then
	t_skip "interoperability with the reference registry" "$why"
	exit 0
fi

mkimage "$TMP/img" --tag v1 --layers 3 --size 300000 --seed interop-a >/dev/null
mkimage "$TMP/img" --tag v2 --layers 2 --size 200000 --seed interop-b >/dev/null
mkimage "$TMP/multi" --tag m --multiarch --layers 2 --size 100000 --seed interop-m >/dev/null

# push_all HOST: the test images into three repositories.
push_all() {
	local h=$1 w=$2
	check "$w: push OCI image v1" skopeo_copy oci:"$TMP/img":v1 docker://$h/interop/app:v1 --preserve-digests
	check "$w: push OCI image v2" skopeo_copy oci:"$TMP/img":v2 docker://$h/interop/app:v2 --preserve-digests
	check "$w: push Docker schema 2" skopeo_copy oci:"$TMP/img":v1 docker://$h/interop/dockerfmt:v1 \
		--format v2s2 --digestfile "$TMP/$w.v2s2.digest"
	check "$w: push multi-arch index" skopeo_copy oci:"$TMP/multi":m docker://$h/multi:m --all --preserve-digests
}
# state HOST: catalog and tag lists, normalised.
state() {
	local h=$1 r
	curl -sf "http://$h/v2/_catalog" | jq -cS '.repositories | sort'
	for r in interop/app interop/dockerfmt multi; do
		curl -sf "http://$h/v2/$r/tags/list" | jq -cS '{name, tags: (.tags | sort)}'
	done
}
# pull_compare HOST WHO: pull everything back, byte-identical.
pull_compare() {
	local h=$1 w=$2 t
	for t in v1 v2; do
		rm -rf "$TMP/$w-$t"
		check "$w: pull interop/app:$t" skopeo_copy docker://$h/interop/app:$t oci:"$TMP/$w-$t":$t --preserve-digests
		check_eq "$w: interop/app:$t manifest digest" "$(oci_top_digest "$TMP/img" $t)" \
			"$(oci_top_digest "$TMP/$w-$t" $t 2>/dev/null)"
		check "$w: interop/app:$t blobs byte-identical" blobs_subset "$TMP/$w-$t" "$TMP/img"
	done
	rm -rf "$TMP/$w-d"
	check "$w: pull Docker schema 2" skopeo_copy docker://$h/interop/dockerfmt:v1 dir:"$TMP/$w-d"
	check_eq "$w: Docker schema 2 manifest bytes as pushed" "$(cat "$TMP/$pusher.v2s2.digest" 2>/dev/null)" \
		"sha256:$(sha256sum <"$TMP/$w-d/manifest.json" 2>/dev/null | cut -d' ' -f1)"
	check "$w: Docker schema 2 blobs byte-identical" blobs_subset "$TMP/$w-d" "$TMP/img"
	rm -rf "$TMP/$w-m"
	check "$w: pull multi-arch index (--all)" skopeo_copy docker://$h/multi:m oci:"$TMP/$w-m":m --all --preserve-digests
	check "$w: multi-arch blobs byte-identical" blobs_same "$TMP/multi" "$TMP/$w-m"
}

# --- (a) Wharf writes, the reference reads ------------------------------------------
if wharf_start; then
	pusher=wharf
	push_all "$W_HOST" wharf
	state "$W_HOST" >"$TMP/state-a-wharf"
	root_a=$W_ROOT
	wharf_stop
	if refreg_start "$TMP/ref-a" "$root_a"; then
		pull_compare "$R_HOST" "reference-on-wharf-root"
		state "$R_HOST" >"$TMP/state-a-ref"
		check "catalog and tags: the reference agrees with Wharf" diff "$TMP/state-a-wharf" "$TMP/state-a-ref"
		[ "$(wc -l <"$TMP/state-a-ref")" -eq 4 ]
		t_result "catalog and 3 tag lists read" $? "$(cat "$TMP/state-a-ref")"
		refreg_stop
	else
		t_fail "reference registry starts on Wharf's root"
	fi
else
	t_fail "registry starts (a)"
fi

# --- (b) the reference writes, Wharf reads -------------------------------------------
if refreg_start "$TMP/ref-b" "$TMP/root-b"; then
	pusher=reference
	push_all "$R_HOST" reference
	state "$R_HOST" >"$TMP/state-b-ref"
	refreg_stop
	if wharf_start "$TMP/root-b"; then
		pull_compare "$W_HOST" "wharf-on-reference-root"
		state "$W_HOST" >"$TMP/state-b-wharf"
		check "catalog and tags: Wharf agrees with the reference" diff "$TMP/state-b-ref" "$TMP/state-b-wharf"
		[ "$(wc -l <"$TMP/state-b-wharf")" -eq 4 ]
		t_result "catalog and 3 tag lists read" $? "$(cat "$TMP/state-b-wharf")"
		wharf_stop
	else
		t_fail "registry starts on the reference's root"
	fi
else
	t_fail "reference registry starts (b)"
fi

e2e_done
