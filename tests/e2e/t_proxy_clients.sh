#!/usr/bin/env bash
# Clients configured to use Wharf as a registry mirror (issue 8): dockerd with
# daemon.json "registry-mirrors" and podman with a containers-registries.conf
# mirror entry pull docker.io/library/... images that exist only on the
# upstream (the reference registry with htpasswd on loopback; there is no
# Docker Hub here, so a pull that does not go through the mirror fails).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/proxy_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl docker-registry htpasswd); then
	t_skip "registry mirror clients" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "registry mirror clients" "Wharf only"; exit 0; }

up_htpasswd_env "$TMP/up.htpasswd" alice alice-Pw1
up_start a || { t_fail "upstream starts"; exit 1; }
unset "${!REGISTRY_@}"
A=${UP_HOST[a]}
mkimage "$TMP/d" --tag v1 --layers 2 --size 300000 --seed mirror-docker >/dev/null
mkimage "$TMP/p" --tag v1 --layers 2 --size 300000 --seed mirror-podman >/dev/null
skopeo_copy oci:"$TMP/d":v1 "docker://$A/library/wharf-mirror-docker:v1" --dest-creds alice:alice-Pw1 ||
	t_fail "seed the upstream (docker image)"
skopeo_copy oci:"$TMP/p":v1 "docker://$A/library/wharf-mirror-podman:v1" --dest-creds alice:alice-Pw1 ||
	t_fail "seed the upstream (podman image)"

# dockerd asks its mirror for library/<x>; podman's mirror entry adds hub/
export REGISTRY_PROXY_UPSTREAMS="[{prefix: library, remoteprefix: library, remoteurl: 'http://$A', username: alice, password: alice-Pw1},
 {prefix: hub, remoteurl: 'http://$A', username: alice, password: alice-Pw1}]"
wharf_start || { t_fail "mirror starts"; exit 1; }
unset "${!REGISTRY_@}"
M=$W_HOST

# ---- dockerd: daemon.json registry-mirrors ---------------------------------------
if need_cmd dockerd >/dev/null; then
	cat >"$TMP/daemon.json" <<EOF
{ "registry-mirrors": ["http://$M"] }
EOF
	DOCKERD_ARGS=(--config-file "$TMP/daemon.json")
	if dockerd_start; then
		check "dockerd reports the mirror" sh -c "'$DOCKER' info 2>/dev/null | grep -A1 'Registry Mirrors' | grep -q '$M'"
		"$DOCKER" pull docker.io/library/wharf-mirror-docker:v1 >"$TMP/docker-pull.out" 2>&1
		t_result "docker pull docker.io/library/wharf-mirror-docker:v1 through the mirror" $? \
			"$(tail -n 5 "$TMP/docker-pull.out")"
		want=$(oci_top_digest "$TMP/d")
		check "docker pull named the upstream's manifest digest" grep -q "$want" "$TMP/docker-pull.out"
		check "the mirror served it" grep -q 'GET /v2/library/wharf-mirror-docker/manifests/' "$W_DIR/nginx-access.log"
		check "the mirror stored its layers" test -d \
			"$W_ROOT/docker/registry/v2/repositories/library/wharf-mirror-docker/_layers"
	else
		t_fail "dockerd starts with registry-mirrors"
	fi
else
	t_skip "dockerd registry-mirrors" "no dockerd"
fi

# ---- podman: a registries.conf mirror entry ------------------------------------
if need_cmd podman >/dev/null; then
	mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp"
	PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
		--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
	at_exit "${PODMAN[*]} rmi -a -f"
	cat >"$TMP/registries.conf" <<EOF
unqualified-search-registries = []

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "$M/hub"
insecure = true
EOF
	CONTAINERS_REGISTRIES_CONF=$TMP/registries.conf TMPDIR=$TMP/podman/tmp \
		"${PODMAN[@]}" pull docker.io/library/wharf-mirror-podman:v1 >"$TMP/podman-pull.out" 2>&1
	t_result "podman pull docker.io/library/wharf-mirror-podman:v1 through the registries.conf mirror" $? \
		"$(tail -n 5 "$TMP/podman-pull.out")"
	check "the mirror served hub/library/wharf-mirror-podman" \
		grep -q 'GET /v2/hub/library/wharf-mirror-podman/manifests/' "$W_DIR/nginx-access.log"
	want=$(oci_top_digest "$TMP/p")
	got=$(CONTAINERS_REGISTRIES_CONF=$TMP/registries.conf "${PODMAN[@]}" image inspect \
		--format '{{.Digest}}' docker.io/library/wharf-mirror-podman:v1 2>/dev/null)
	check_eq "podman's image has the upstream's digest" "$want" "$got"
else
	t_skip "podman registries.conf mirror" "no podman"
fi
wharf_stop

e2e_done
