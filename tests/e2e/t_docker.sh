#!/usr/bin/env bash
# docker (a private dockerd under $TMP, vfs, no network setup): load a locally
# made image, tag, push, rmi, pull; image Id and RepoDigests unchanged.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd dockerd skopeo jq nginx curl); then
	t_skip "docker push/pull" "$why"
	exit 0
fi
wharf_start || { t_fail "registry starts"; exit 1; }
R=$W_HOST
dockerd_start || { t_fail "dockerd starts"; exit 1; }
t_ok "dockerd starts"

mkimage "$TMP/src" --tag v1 --layers 3 --size 800000 --seed docker >/dev/null
check "make a docker-archive with skopeo" \
	"${SKOPEO[@]}" copy -q oci:"$TMP/src":v1 docker-archive:"$TMP/img.tar":e2e/local:v1
check "docker load" "$DOCKER" load -q -i "$TMP/img.tar"
id0=$("$DOCKER" image inspect --format '{{.Id}}' e2e/local:v1 2>/dev/null)
check "docker tag" "$DOCKER" tag e2e/local:v1 "$R/e2e/docker:v1"
"$DOCKER" push "$R/e2e/docker:v1" >"$TMP/push.out" 2>&1
t_result "docker push" $? "$(tail -n 10 "$TMP/push.out")"
pushed=$(grep -oE 'digest: sha256:[0-9a-f]{64}' "$TMP/push.out" | cut -d' ' -f2)
rd0=$("$DOCKER" image inspect --format '{{json .RepoDigests}}' "$R/e2e/docker:v1" 2>/dev/null)
check_eq "RepoDigests after push name the pushed digest" "[\"$R/e2e/docker@$pushed\"]" "$rd0"
mt=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$W_URL/v2/e2e/docker/manifests/v1" | jq -r .mediaType)
check_eq "registry serves a Docker schema 2 manifest" "application/vnd.docker.distribution.manifest.v2+json" "$mt"

check "docker rmi" "$DOCKER" rmi -f e2e/local:v1 "$R/e2e/docker:v1"
n=$("$DOCKER" images -q | wc -l)
check_eq "no image left after rmi" 0 "$n"
"$DOCKER" pull "$R/e2e/docker:v1" >"$TMP/pull.out" 2>&1
t_result "docker pull" $? "$(tail -n 10 "$TMP/pull.out")"
id1=$("$DOCKER" image inspect --format '{{.Id}}' "$R/e2e/docker:v1" 2>/dev/null)
rd1=$("$DOCKER" image inspect --format '{{json .RepoDigests}}' "$R/e2e/docker:v1" 2>/dev/null)
check_eq "image Id identical after the round trip" "$id0" "$id1"
check_eq "RepoDigests identical after the round trip" "$rd0" "$rd1"
check "docker pull by digest" "$DOCKER" pull -q "$R/e2e/docker@$pushed"

# docker save of the pulled image: the same layers (diff IDs) as the source.
diff0=$(jq -c '.rootfs.diff_ids' "$TMP/src/blobs/sha256/$(jq -r .config.digest \
	"$TMP/src/blobs/sha256/$(oci_top_digest "$TMP/src" v1 | cut -d: -f2)" | cut -d: -f2)")
diff1=$("$DOCKER" image inspect --format '{{json .RootFS.Layers}}' "$R/e2e/docker:v1" 2>/dev/null)
check_eq "layer diff IDs identical to the source image" "$diff0" "$diff1"

wharf_stop
e2e_done
