# auth_lib.sh — helpers shared by t_auth_*.sh (source after lib.sh and e2e_init).
# shellcheck shell=bash

# mk_htpasswd FILE USER:PASS...: a bcrypt htpasswd file (libcrypt via python).
mk_htpasswd() {
	local f=$1
	shift
	"$PYTHON" -W ignore - "$f" "$@" <<'PY'
import crypt, sys
with open(sys.argv[1], "w") as f:
    for up in sys.argv[2:]:
        u, p = up.split(":", 1)
        f.write("%s:%s\n" % (u, crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))))
PY
}

# http_code URL [curl args]: the status of a request.
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# www_auth URL [curl args]: the WWW-Authenticate header of the answer.
www_auth() { curl -s -D - -o /dev/null "$@" | tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p'; }
# err_code URL [curl args]: errors[0].code of the JSON body.
err_code() { curl -s "$@" | jq -r '.errors[0].code' 2>/dev/null; }

# clients_setup: private storage for podman, buildah and docker (DOCKER_CONFIG),
# a small OCI layout $TMP/src:v1, and a docker-archive of it.
clients_setup() {
	mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp" "$TMP/buildah/root" \
		"$TMP/buildah/run" "$TMP/dockercfg"
	export TMPDIR=$TMP/podman/tmp
	export DOCKER_CONFIG=$TMP/dockercfg
	echo '{}' >"$DOCKER_CONFIG/config.json"
	PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
		--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
	BUILDAH=(buildah --root "$TMP/buildah/root" --runroot "$TMP/buildah/run" --storage-driver vfs)
	at_exit "${PODMAN[*]} rmi -a -f"
	at_exit "${BUILDAH[*]} rm -a; ${BUILDAH[*]} rmi -a -f"
	mkimage "$TMP/src" --tag v1 --layers 1 --size 200000 --seed auth >/dev/null
	"${SKOPEO[@]}" copy -q oci:"$TMP/src":v1 docker-archive:"$TMP/img.tar":e2e/auth:v1 >/dev/null 2>&1
	"${PODMAN[@]}" pull -q oci:"$TMP/src":v1 >"$TMP/podman-pull.log" 2>&1
	ctr=$("${BUILDAH[@]}" from scratch 2>/dev/null)
	echo buildah >"$TMP/b.txt"
	"${BUILDAH[@]}" copy "$ctr" "$TMP/b.txt" /b.txt >/dev/null 2>&1
	"${BUILDAH[@]}" commit -q "$ctr" e2e-auth-buildah:v1 >/dev/null 2>&1
}

# clients_roundtrip LABEL USER PASS REPO_PREFIX: skopeo --creds, podman login,
# buildah push, docker login, each pushing and pulling through $W_HOST.
clients_roundtrip() {
	local label=$1 user=$2 pass=$3 pre=$4 R=$W_HOST id
	# skopeo --creds
	check "$label: skopeo copy --dest-creds" skopeo_copy oci:"$TMP/src":v1 \
		"docker://$R/$pre/skopeo:v1" --dest-creds "$user:$pass"
	check "$label: skopeo inspect --creds" "${SKOPEO[@]}" inspect --tls-verify=false \
		--creds "$user:$pass" "docker://$R/$pre/skopeo:v1"
	check "$label: skopeo copy without creds fails" not skopeo_copy \
		oci:"$TMP/src":v1 "docker://$R/$pre/skopeo:nocreds"
	# podman login / push / pull
	check "$label: podman login" "${PODMAN[@]}" login --tls-verify=false \
		--authfile "$TMP/podman-auth.json" -u "$user" -p "$pass" "$R"
	id=$("${PODMAN[@]}" images -q --no-trunc | head -n 1)
	"${PODMAN[@]}" tag "$id" "$R/$pre/podman:v1" >/dev/null 2>&1
	check "$label: podman push" "${PODMAN[@]}" push -q --tls-verify=false \
		--authfile "$TMP/podman-auth.json" "$R/$pre/podman:v1"
	"${PODMAN[@]}" rmi -f "$R/$pre/podman:v1" >/dev/null 2>&1
	check "$label: podman pull" "${PODMAN[@]}" pull -q --tls-verify=false \
		--authfile "$TMP/podman-auth.json" "$R/$pre/podman:v1"
	# buildah push with --creds
	check "$label: buildah push --creds" "${BUILDAH[@]}" push -q --tls-verify=false \
		--creds "$user:$pass" e2e-auth-buildah:v1 "docker://$R/$pre/buildah:v1"
	check "$label: buildah push without creds fails" not "${BUILDAH[@]}" push -q \
		--tls-verify=false e2e-auth-buildah:v1 "docker://$R/$pre/buildah:nocreds"
	# docker login / push / pull
	if [ -n "${DOCKER:-}" ]; then
		"$DOCKER" load -q -i "$TMP/img.tar" >/dev/null 2>&1
		"$DOCKER" tag e2e/auth:v1 "$R/$pre/docker:v1" >/dev/null 2>&1
		check "$label: docker push before login fails" not "$DOCKER" push "$R/$pre/docker:v1"
		check "$label: docker login" sh -c "echo '$pass' | '$DOCKER' login -u '$user' --password-stdin '$R'"
		check "$label: docker push" "$DOCKER" push "$R/$pre/docker:v1"
		"$DOCKER" rmi -f "$R/$pre/docker:v1" e2e/auth:v1 >/dev/null 2>&1
		check "$label: docker pull" "$DOCKER" pull "$R/$pre/docker:v1"
		check "$label: docker logout" "$DOCKER" logout "$R"
	fi
}

not() { ! "$@"; }
