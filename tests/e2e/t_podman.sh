#!/usr/bin/env bash
# podman (root, private storage under $TMP): pull a local OCI layout, tag,
# push to the registry (layer PATCHes with chunked bodies), rmi, pull back;
# digest, image ID and layer diff IDs identical.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd podman skopeo jq nginx curl); then
	t_skip "podman push/pull" "$why"
	exit 0
fi
wharf_start || { t_fail "registry starts"; exit 1; }
R=$W_HOST

mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp"
export TMPDIR=$TMP/podman/tmp
PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
	--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
at_exit "${PODMAN[*]} rmi -a -f"

mkimage "$TMP/src" --tag v1 --layers 3 --size 1000000 --seed podman >/dev/null
check "podman pull oci: layout" "${PODMAN[@]}" pull -q oci:"$TMP/src":v1
id0=$("${PODMAN[@]}" image inspect --format '{{.Id}}' oci:"$TMP/src":v1 2>/dev/null ||
	"${PODMAN[@]}" images -q --no-trunc | head -n 1)
id0=${id0#sha256:}
check "podman tag" "${PODMAN[@]}" tag "$id0" "$R/e2e/podman:v1"
diff0=$("${PODMAN[@]}" image inspect --format '{{json .RootFS.Layers}}' "$R/e2e/podman:v1" 2>/dev/null)
: >"$W_DIR/nginx-access.log"
check "podman push --tls-verify=false" \
	"${PODMAN[@]}" push -q --tls-verify=false --digestfile "$TMP/push.digest" "$R/e2e/podman:v1"
pushed=$(cat "$TMP/push.digest" 2>/dev/null)
# podman streams each layer in one PATCH with a chunked body and no length:
# the upload path that reads until end of stream.
n=$(grep -cE '"PATCH /v2/e2e/podman/blobs/uploads/[^"]*" 202 .* te="chunked"' "$W_DIR/nginx-access.log")
if [ "$n" -ge 3 ]; then
	t_ok "podman sent chunked PATCH bodies ($n) accepted with 202"
else
	t_fail "podman sent chunked PATCH bodies accepted with 202" "$(grep -E 'PATCH|PUT|POST' "$W_DIR/nginx-access.log" | head)"
fi
check "podman rmi" "${PODMAN[@]}" rmi -f "$id0"
left=$("${PODMAN[@]}" images -q | wc -l)
check_eq "no image left after rmi" 0 "$left"
check "podman pull back from the registry" "${PODMAN[@]}" pull -q --tls-verify=false "$R/e2e/podman:v1"
id1=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$R/e2e/podman:v1" 2>/dev/null)
dg1=$("${PODMAN[@]}" image inspect --format '{{.Digest}}' "$R/e2e/podman:v1" 2>/dev/null)
diff1=$("${PODMAN[@]}" image inspect --format '{{json .RootFS.Layers}}' "$R/e2e/podman:v1" 2>/dev/null)
check_eq "image ID identical after the round trip" "$id0" "${id1#sha256:}"
check_eq "podman image inspect Digest is the pushed manifest digest" "$pushed" "$dg1"
check_eq "layer diff IDs identical" "$diff0" "$diff1"
nl=$(echo "$diff1" | jq length 2>/dev/null)
check_eq "3 layers" 3 "$nl"

# The registry's copy, read by skopeo: manifest digest and blobs as pushed.
check "skopeo pulls what podman pushed" skopeo_copy docker://$R/e2e/podman:v1 dir:"$TMP/pulled"
check_eq "registry manifest hashes to the pushed digest" "$pushed" \
	"sha256:$(sha256sum <"$TMP/pulled/manifest.json" | cut -d' ' -f1)"
check "pulled blobs hash to their names" blobs_self_consistent "$TMP/pulled"

# podman push --format docker of the same image to another repository.
check "podman push --format v2s2" \
	"${PODMAN[@]}" push -q --tls-verify=false --format v2s2 --digestfile "$TMP/push2.digest" \
	"$R/e2e/podman:v1" "$R/e2e/podman-docker:v1"
mt=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$W_URL/v2/e2e/podman-docker/manifests/v1" | jq -r .mediaType)
check_eq "v2s2 manifest served" "application/vnd.docker.distribution.manifest.v2+json" "$mt"

wharf_stop
e2e_done
