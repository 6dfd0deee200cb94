# image_lib.sh — for the container image tests (t_image.sh, t_image_swarm.sh):
# a private dockerd with a bridge of its own, and the wharf image built into it
# once per test file by admin/image.sh (`make image`).
# shellcheck shell=bash

# image_dockerd_start: dockerd under $TMP/docker whose default bridge is a
# bridge made for it (a name and a /24 of its own: never docker0, which the
# machine's or another test's daemon may hold), so that `docker run -p` works
# as the course types it. Sets DOCKER, DOCKER_HOST (exported), IMG_BRIDGE,
# IMG_GW (the bridge's address: the host as containers see it).
image_dockerd_start() {
	local d=$TMP/docker i a b
	mkdir -p "$d"
	IMG_BRIDGE=whb$(printf '%05d' $((RANDOM % 100000)))
	for ((i = 0; i < 50; i++)); do
		a=$((RANDOM % 200 + 30)) b=$((RANDOM % 250 + 1))
		ip -4 route | grep -q "^10\.$a\.$b\." || break
	done
	IMG_GW=10.$a.$b.1
	ip link add "$IMG_BRIDGE" type bridge || return 1
	at_exit ip link del "$IMG_BRIDGE"
	ip addr add "$IMG_GW/24" dev "$IMG_BRIDGE" && ip link set "$IMG_BRIDGE" up || return 1
	DOCKER=docker
	[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
	# the daemon's own client configuration (docker login's credentials)
	export DOCKER_CONFIG=$d/client
	mkdir -p "$DOCKER_CONFIG"
	dockerd --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/sock" \
		--storage-driver vfs --iptables=false --ip6tables=false --ip-masq=false \
		--bridge "$IMG_BRIDGE" "${DOCKERD_ARGS[@]}" \
		>"$d/dockerd.log" 2>&1 </dev/null &
	dockerd_ready "$!" "$d"
}

# image_build [OCI]: `make image`'s script into that daemon (wharf:latest),
# its context under $TMP, the OCI archive to OCI (none without). Sets
# IMG_SIZE (bytes).
image_build() {
	IMAGE_CTX=$TMP/image-ctx OCI=${1:-} BUILD=$BUILD "$REPO/admin/image.sh" >"$TMP/image-build.log" 2>&1 ||
		{ diag "admin/image.sh failed:" "$(tail -n 20 "$TMP/image-build.log")"; return 1; }
	IMG_SIZE=$("$DOCKER" image inspect -f '{{.Size}}' wharf:latest)
}

# image_hello: a tiny local image named hello-world (no registry to pull the
# real one from): tini-static as /hello, its command.
image_hello() {
	mkdir -p "$TMP/hello"
	cp "$(command -v tini-static)" "$TMP/hello/hello" || return 1
	tar -C "$TMP/hello" -c hello | "$DOCKER" import --change 'CMD ["/hello", "--version"]' - hello-world >/dev/null
}

# image_wait_up NAME URL [CURL ARGS...]: until the container's front answers
# URL (200 or 401), at most 30 s, while it runs.
image_wait_up() {
	local name=$1 url=$2 i code
	shift 2
	for ((i = 0; i < 300; i++)); do
		code=$(curl -s -o /dev/null -m 2 "$@" -w '%{http_code}' "$url" 2>/dev/null)
		case $code in 200 | 401) return 0 ;; esac
		[ "$("$DOCKER" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
		sleep 0.1
	done
	diag "container $name does not answer $url:" "$("$DOCKER" logs --tail 20 "$name" 2>&1)"
	return 1
}
