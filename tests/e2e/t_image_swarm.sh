#!/usr/bin/env bash
# t_image_swarm.sh — issue 16: the wharf image as a swarm service, on a
# single-node swarm of a private dockerd:
#   - `docker service create --name registry --publish ... wharf:latest` (the
#     course's command; host-mode publishing: this kernel has no IPVS, so the
#     ingress routing mesh the course relies on cannot run here);
#   - a `docker stack deploy` (compose 3.8) with two replicas on shared Swift
#     storage and Redis as the blob-descriptor cache, endpoint_mode dnsrr:
#     push through one replica, pull through the other, the service name
#     resolves to both from a container on the stack's network.
# The stack's replicas publish no port here: the test reaches each at its
# docker_gwbridge address (host-mode publishing of one port by two replicas
# on one node cannot be; swarm-chosen host ports proved flaky).
# Swift and Redis run on the host, on the address of the bridge swarm tasks
# reach the host by (docker_gwbridge, made here with a subnet of its own).
# docs/container.md's stack file (admin/image/docker-stack.yml) is checked
# with `docker stack config`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image_lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
e2e_init

if ! why=$(need_cmd dockerd tini tini-static curl nginx ip redis-server redis-cli swift-proxy-server memcached jq); then
	t_skip "container image in a swarm" "$why"
	e2e_done
	exit
fi
# the replicas are reached at their docker_gwbridge addresses (10.x): plain http
DOCKERD_ARGS=(--insecure-registry 10.0.0.0/8)
image_dockerd_start || { t_fail "dockerd starts"; e2e_done; exit; }
image_build
if [ $? -ne 0 ]; then
	t_fail "make image builds wharf:latest" "$(tail -n 5 "$TMP/image-build.log")"
	e2e_done
	exit
fi
t_ok "make image builds wharf:latest"
check "a local hello-world image" image_hello

# docker_gwbridge before `swarm init`: a subnet and a host bridge name of this
# test's own (the default names would collide with any other daemon's)
for ((i = 0; i < 50; i++)); do
	a=$((RANDOM % 200 + 30)) b=$((RANDOM % 250 + 1))
	ip -4 route | grep -q "^10\.$a\.$b\." || break
done
GW=10.$a.$b.1
gwname=whg$(printf '%05d' $((RANDOM % 100000)))
check "docker_gwbridge on $GW" "$DOCKER" network create --subnet "10.$a.$b.0/24" --gateway "$GW" \
	-o com.docker.network.bridge.name="$gwname" -o com.docker.network.bridge.enable_icc=false \
	-o com.docker.network.bridge.enable_ip_masquerade=false docker_gwbridge
at_exit ip link del "$gwname"
sp=$(free_port)
dp=$(free_port)
check "docker swarm init (single node, on loopback)" "$DOCKER" swarm init --advertise-addr "127.0.0.1:$sp" \
	--listen-addr "127.0.0.1:$sp" --data-path-port "$dp"
at_exit "$DOCKER" swarm leave --force

# registry_addrs SERVICE: "CONTAINER ADDRESS:5000" for each running task of
# SERVICE, its address on docker_gwbridge (the host reaches it directly)
registry_addrs() {
	local c ip
	for c in $("$DOCKER" ps -q --no-trunc --filter "label=com.docker.swarm.service.name=$1"); do
		ip=$("$DOCKER" network inspect -f "{{with index .Containers \"$c\"}}{{.IPv4Address}}{{end}}" docker_gwbridge 2>/dev/null)
		[ -n "$ip" ] && echo "$c ${ip%/*}:5000"
	done
}
# registry_ports SERVICE: the host ports of SERVICE's tasks (host-mode publishing)
registry_ports() {
	local c
	for c in $("$DOCKER" ps -q --filter "label=com.docker.swarm.service.name=$1"); do
		"$DOCKER" inspect -f '{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{.HostPort}}{{"\n"}}{{end}}{{end}}' "$c"
	done | sort -u | grep .
}
# wait_tasks SERVICE N: until N tasks run and each answers /v2/ at its
# docker_gwbridge address (60 s)
wait_tasks() {
	local i a ok
	for ((i = 0; i < 600; i++)); do
		mapfile -t addrs < <(registry_addrs "$1")
		if [ "${#addrs[@]}" -eq "$2" ]; then
			ok=1
			for a in "${addrs[@]}"; do
				[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://${a#* }/v2/")" = 200 ] || ok=
			done
			[ -n "$ok" ] && return 0
		fi
		sleep 0.1
	done
	diag "$1: ${#addrs[@]} of $2 tasks answer" "$("$DOCKER" service ps --no-trunc "$1" 2>&1 | tail -n 5)"
	return 1
}

# ---- the course's service, one replica, local storage
P=$(free_port)
check "docker service create --name registry --publish mode=host,published=$P,target=5000 wharf:latest" \
	"$DOCKER" service create -d --name registry --publish "mode=host,published=$P,target=5000" wharf:latest
check "the service's task answers on 127.0.0.1:$P" wait_http "http://127.0.0.1:$P/v2/" "$DOCKERD_PID" 60
check_eq "its port is published on the host" "$P" "$(registry_ports registry)"
check "docker tag hello-world 127.0.0.1:$P/hello-world" "$DOCKER" tag hello-world "127.0.0.1:$P/hello-world"
"$DOCKER" push "127.0.0.1:$P/hello-world" >"$TMP/push0.out" 2>&1
t_result "docker push to the service" $? "$(tail -n 5 "$TMP/push0.out")"
check "docker rmi, pull from the service" bash -c "'$DOCKER' rmi 127.0.0.1:$P/hello-world >/dev/null &&
	'$DOCKER' pull -q 127.0.0.1:$P/hello-world >/dev/null"
check "docker service rm registry" "$DOCKER" service rm registry

# ---- the stack: two replicas, Swift, Redis
mkdir -p "$TMP/swift" "$TMP/redis"
if ! SWIFT_BIND_IP=$GW swift_start "$TMP/swift"; then
	t_fail "Swift all-in-one starts on $GW" "$(tail -n 5 "$TMP"/swift/log/*.log 2>/dev/null)"
	e2e_done
	exit
fi
at_exit swift_stop
check "a Swift container for the registry" swift_bucket wharf
RP=$(free_port)
redis-server --bind "$GW" --port "$RP" --protected-mode no --save '' --daemonize no --dir "$TMP/redis" >"$TMP/redis/log" 2>&1 </dev/null &
track_pid $!
cat >"$TMP/stack.yml" <<EOF
version: "3.8"
services:
  registry:
    image: wharf:latest
    environment:
      REGISTRY_HTTP_SECRET: swarm-e2e-$RANDOM$RANDOM
      REGISTRY_STORAGE: swift
      REGISTRY_STORAGE_SWIFT_AUTHURL: http://$GW:$SWIFT_PORT/auth/v1.0
      REGISTRY_STORAGE_SWIFT_USERNAME: test:tester
      REGISTRY_STORAGE_SWIFT_PASSWORD: testing
      REGISTRY_STORAGE_SWIFT_CONTAINER: wharf
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: redis
      REGISTRY_REDIS_ADDR: $GW:$RP
    networks: [registry]
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
networks:
  registry:
    driver: overlay
    attachable: true
EOF
"$DOCKER" stack deploy --resolve-image never -c "$TMP/stack.yml" wharf >"$TMP/deploy.out" 2>&1
t_result "docker stack deploy: 2 replicas, Swift, Redis" $? "$(cat "$TMP/deploy.out")"
check "both replicas answer" wait_tasks wharf_registry 2
mapfile -t addrs < <(registry_addrs wharf_registry)
P1=${addrs[0]#* } c2=${addrs[1]%% *} P2=${addrs[1]#* }
check "docker tag for replica 1" "$DOCKER" tag hello-world "$P1/swarm/hello:v1"
"$DOCKER" push "$P1/swarm/hello:v1" >"$TMP/push1.out" 2>&1
t_result "docker push through replica 1 ($P1)" $? "$(tail -n 5 "$TMP/push1.out")"
id0=$("$DOCKER" image inspect -f '{{.Id}}' hello-world)
check "docker rmi" "$DOCKER" rmi "$P1/swarm/hello:v1"
"$DOCKER" pull "$P2/swarm/hello:v1" >"$TMP/pull2.out" 2>&1
t_result "docker pull through replica 2 ($P2)" $? "$(tail -n 5 "$TMP/pull2.out")"
check_eq "the same image" "$id0" "$("$DOCKER" image inspect -f '{{.Id}}' "$P2/swarm/hello:v1" 2>/dev/null)"
"$DOCKER" logs "$c2" >"$TMP/replica2.log" 2>&1
check "replica 2 served the pull (its log)" grep -qE '"(GET|HEAD) /v2/swarm/hello/manifests/v1 ' "$TMP/replica2.log"
check "nothing in the replicas' local storage (Swift holds it)" \
	bash -c "! '$DOCKER' exec $c2 test -e /var/lib/registry/docker/registry/v2/repositories"
n=$(redis-cli -h "$GW" -p "$RP" --scan 2>/dev/null | grep -c .)
check "Redis holds blob descriptors ($n keys)" test "$n" -gt 0 ||
	diag "$(grep -i redis "$TMP/replica2.log" | tail -n 5)" "$(tail -n 5 "$TMP/redis/log")"
# dnsrr: the service name is both replicas, from a container on the network
out=$("$DOCKER" run --rm --network wharf_registry --entrypoint /bin/bash wharf:latest -c \
	'for i in 1 2 3 4 5 6; do curl -s http://registry:5000/v2/swarm/hello/tags/list; echo; done' 2>&1)
check "the service name serves the tag from inside the stack's network" grep -q '"tags":\["v1"\]' <<<"$out"
check "docker stack rm" "$DOCKER" stack rm wharf

# the stack file docs/container.md gives for real clusters parses (a client
# of 20.10 or later has `docker stack config`)
if docker stack config --help >/dev/null 2>&1; then
	check "admin/image/docker-stack.yml is a valid stack file" env REGISTRY_SECRET=s S3_BUCKET=b \
		S3_ACCESSKEY=a S3_SECRETKEY=k docker stack config -c "$REPO/admin/image/docker-stack.yml"
else
	t_skip "admin/image/docker-stack.yml is a valid stack file" "this docker client has no 'stack config'"
fi
e2e_done
