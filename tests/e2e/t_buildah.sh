#!/usr/bin/env bash
# buildah (root, private storage under $TMP): from scratch, copy a file,
# commit, push as OCI and as Docker schema 2, pull back with skopeo:
# manifest digest as pushed, config = image ID, layer holds the file.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd buildah skopeo jq nginx curl); then
	t_skip "buildah push" "$why"
	exit 0
fi
wharf_start || { t_fail "registry starts"; exit 1; }
R=$W_HOST

mkdir -p "$TMP/buildah/root" "$TMP/buildah/run" "$TMP/buildah/tmp"
export TMPDIR=$TMP/buildah/tmp
BUILDAH=(buildah --root "$TMP/buildah/root" --runroot "$TMP/buildah/run" --storage-driver vfs)
at_exit "${BUILDAH[*]} rm -a; ${BUILDAH[*]} rmi -a -f"

head -c 1500000 /dev/urandom >"$TMP/payload.bin"
ctr=$("${BUILDAH[@]}" from scratch 2>"$TMP/from.err")
check_eq "buildah from scratch" working-container "$ctr"
check "buildah copy a file" "${BUILDAH[@]}" copy "$ctr" "$TMP/payload.bin" /payload.bin
check "buildah config" "${BUILDAH[@]}" config --label wharf.test=buildah --cmd /payload.bin "$ctr"
check "buildah commit (oci)" "${BUILDAH[@]}" commit -q --format oci "$ctr" e2e-buildah:oci
check "buildah commit (docker)" "${BUILDAH[@]}" commit -q --format docker "$ctr" e2e-buildah:docker

for fmt in oci docker; do
	case $fmt in
	oci) want=application/vnd.oci.image.manifest.v1+json ;;
	docker) want=application/vnd.docker.distribution.manifest.v2+json ;;
	esac
	id=$("${BUILDAH[@]}" images -q --no-trunc "e2e-buildah:$fmt" 2>/dev/null | head -n 1)
	id=${id#sha256:}
	check "buildah push --format $fmt" "${BUILDAH[@]}" push -q --tls-verify=false --format "$fmt" \
		--digestfile "$TMP/$fmt.digest" "e2e-buildah:$fmt" "docker://$R/e2e/buildah:$fmt"
	check "skopeo pulls the $fmt image back" skopeo_copy "docker://$R/e2e/buildah:$fmt" dir:"$TMP/back-$fmt"
	m=$TMP/back-$fmt/manifest.json
	check_eq "$fmt: manifest media type" "$want" "$(jq -r .mediaType "$m" 2>/dev/null)"
	check_eq "$fmt: manifest bytes hash to the pushed digest" "$(cat "$TMP/$fmt.digest" 2>/dev/null)" \
		"sha256:$(sha256sum <"$m" 2>/dev/null | cut -d' ' -f1)"
	check "$fmt: every blob hashes to its name" blobs_self_consistent "$TMP/back-$fmt"
	cfg=$(jq -r .config.digest "$m" 2>/dev/null)
	check_eq "$fmt: config digest is the image ID" "$id" "${cfg#sha256:}"
	layer=$(jq -r '.layers[0].digest' "$m" 2>/dev/null)
	layer=$TMP/back-$fmt/${layer#sha256:}
	diffid=$(jq -r '.rootfs.diff_ids[0]' "$TMP/back-$fmt/${cfg#sha256:}" 2>/dev/null)
	check_eq "$fmt: layer diff ID matches the uncompressed layer" "$diffid" \
		"sha256:$( (zcat -f "$layer" 2>/dev/null || cat "$layer") | sha256sum | cut -d' ' -f1)"
	mkdir -p "$TMP/x-$fmt"
	(zcat -f "$layer" | tar -x -C "$TMP/x-$fmt") 2>/dev/null
	check "$fmt: the copied file is byte-identical" cmp "$TMP/payload.bin" "$TMP/x-$fmt/payload.bin"
done

tags=$("${SKOPEO[@]}" list-tags --tls-verify=false docker://$R/e2e/buildah 2>/dev/null | jq -c '.Tags | sort')
check_eq "both tags listed" '["docker","oci"]' "$tags"

wharf_stop
e2e_done
