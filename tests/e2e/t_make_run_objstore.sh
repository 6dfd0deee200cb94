#!/usr/bin/env bash
# t_make_run_objstore.sh — issue 15's "done when": `make run` (admin/run.sh)
# with REGISTRY_STORAGE=swift … (the Swift all-in-one's native API, tempauth)
# and REGISTRY_STORAGE=azure … (azurite) serves pushes and pulls from skopeo,
# podman and docker byte-identically, with redirects on (blob GETs answer 307
# to a TempURL / SAS URL the store serves) and off (the worker streams).
# Only REGISTRY_* variables choose the driver: the file given is the
# default filesystem one.
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
e2e_init
need=$(need_cmd skopeo curl nginx swift-proxy-server) || { t_skip "make run on object stores" "$need"; e2e_done; exit; }

mkimage "$TMP/img" --tag v1 --layers 3 --size 700000 --seed objstore >"$TMP/img.digest"
HAVE_PODMAN=; command -v podman >/dev/null && HAVE_PODMAN=1
HAVE_DOCKER=; command -v dockerd >/dev/null && HAVE_DOCKER=1
if [ -n "$HAVE_PODMAN" ]; then
	mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp"
	PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
		--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
	TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" pull -q "oci:$TMP/img:v1" >/dev/null 2>&1 || HAVE_PODMAN=
	PODMAN_ID=$(TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" images -q --no-trunc 2>/dev/null | head -n 1)
	PODMAN_ID=${PODMAN_ID#sha256:}
fi
if [ -n "$HAVE_DOCKER" ]; then
	if dockerd_start && "${SKOPEO[@]}" copy -q "oci:$TMP/img:v1" "docker-archive:$TMP/img.tar:objstore/local:v1" &&
		"$DOCKER" load -q -i "$TMP/img.tar" >/dev/null; then
		DOCKER_ID=$("$DOCKER" image inspect --format '{{.Id}}' objstore/local:v1)
	else
		HAVE_DOCKER=
	fi
fi

# run_on NAME MODE VAR=VALUE...: make run with those variables, then every client
run_on() {
	local name=$1 mode=$2 port dir pid i code loc
	shift 2
	port=$(free_port) || { t_fail "$name/$mode: a free port"; return; }
	dir=$TMP/$name-$mode
	mkdir -p "$dir" && chmod 755 "$dir"
	local redirect=false
	[ "$mode" = stream ] && redirect=true
	env "$@" REGISTRY_STORAGE_REDIRECT_DISABLE=$redirect \
		WHARF_PORT=$port WHARF_RUNDIR=$dir/run WHARF_DATA=$dir/data WHARF_WORKERS=2 \
		ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
		setsid "$REPO/admin/run.sh" >"$dir/run.log" 2>&1 </dev/null &
	pid=$!
	track_pid "$pid"
	for ((i = 0; i < 200; i++)); do
		grep -q 'Ctrl-C to stop' "$dir/run.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "Wharf is serving http://127.0.0.1:$port" "$dir/run.log"; then
		t_fail "$name/$mode: make run serves" "$(tail -n 20 "$dir/run.log")"
		return
	fi
	t_ok "$name/$mode: make run serves on REGISTRY_STORAGE=$name"
	local R=127.0.0.1:$port url=http://127.0.0.1:$port
	check "$name/$mode: skopeo push" skopeo_copy "oci:$TMP/img:v1" "docker://$R/objstore/app:1"
	rm -rf "$TMP/back"
	check "$name/$mode: skopeo pull" skopeo_copy "docker://$R/objstore/app:1" "oci:$TMP/back:v1"
	check "$name/$mode: skopeo: pulled blobs byte-identical" blobs_same "$TMP/img" "$TMP/back"
	check "$name/$mode: nothing under WHARF_DATA (the store holds it)" \
		test ! -d "$dir/data/docker/registry/v2/blobs"
	# a layer's GET: 307 to the store's own signed URL, or 200 from the worker
	local layer
	layer=$(ls "$TMP/img/blobs/sha256" | head -n 1)
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/objstore/app/blobs/sha256:$layer")
	if [ "$mode" = redirect ]; then
		check_eq "$name/$mode: blob GET answers 307" 307 "$code"
		loc=$(curl -s -o /dev/null -w '%{redirect_url}' "$url/v2/objstore/app/blobs/sha256:$layer")
		check_eq "$name/$mode: the signed URL serves the blob" "$layer" \
			"$(curl -s "$loc" | sha256sum | cut -d' ' -f1)"
	else
		check_eq "$name/$mode: blob GET streamed (200)" 200 "$code"
		check_eq "$name/$mode: streamed bytes are the blob" "$layer" \
			"$(curl -s "$url/v2/objstore/app/blobs/sha256:$layer" | sha256sum | cut -d' ' -f1)"
	fi
	if [ -n "$HAVE_PODMAN" ]; then
		check "$name/$mode: podman push" env TMPDIR="$TMP/podman/tmp" "${PODMAN[@]}" push -q \
			--tls-verify=false "$PODMAN_ID" "docker://$R/objstore/podman:1"
		check "$name/$mode: podman pull" env TMPDIR="$TMP/podman/tmp" "${PODMAN[@]}" pull -q \
			--tls-verify=false "$R/objstore/podman:1"
		check_eq "$name/$mode: podman: same image id" "$PODMAN_ID" \
			"$(TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" image inspect --format '{{.Id}}' "$R/objstore/podman:1" 2>/dev/null)"
		TMPDIR=$TMP/podman/tmp "${PODMAN[@]}" rmi -q "$R/objstore/podman:1" >/dev/null 2>&1
	fi
	if [ -n "$HAVE_DOCKER" ]; then
		"$DOCKER" tag objstore/local:v1 "$R/objstore/docker:1"
		check "$name/$mode: docker push" "$DOCKER" push -q "$R/objstore/docker:1"
		"$DOCKER" rmi -f "$R/objstore/docker:1" >/dev/null 2>&1
		check "$name/$mode: docker pull" "$DOCKER" pull -q "$R/objstore/docker:1"
		check_eq "$name/$mode: docker: same image id" "$DOCKER_ID" \
			"$("$DOCKER" image inspect --format '{{.Id}}' "$R/objstore/docker:1" 2>/dev/null)"
		"$DOCKER" rmi -f "$R/objstore/docker:1" >/dev/null 2>&1
	fi
	kill -TERM -- "-$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	check "$name/$mode: make run stops on SIGTERM" test ! -e "/proc/$pid"
}

at_exit swift_stop
if swift_start "$TMP/swift"; then
	for mode in redirect stream; do
		run_on swift "$mode" REGISTRY_STORAGE=swift \
			REGISTRY_STORAGE_SWIFT_AUTHURL="$SWIFT_ENDPOINT/auth/v1.0" \
			REGISTRY_STORAGE_SWIFT_USERNAME=test:tester REGISTRY_STORAGE_SWIFT_PASSWORD=testing \
			REGISTRY_STORAGE_SWIFT_CONTAINER="run-$mode" REGISTRY_STORAGE_SWIFT_SECRETKEY=tempurl-$mode
	done
else
	t_fail "swift all-in-one starts"
fi
if [ -f "$REPO/tests/storage/azure_lib.sh" ]; then
	source "$REPO/tests/storage/azure_lib.sh"
	if azure_start "$TMP/azurite"; then
		at_exit azure_stop
		for mode in redirect stream; do
			run_on azure "$mode" REGISTRY_STORAGE=azure \
				REGISTRY_STORAGE_AZURE_ACCOUNTNAME="$AZURE_ACCOUNT" \
				REGISTRY_STORAGE_AZURE_ACCOUNTKEY="$AZURE_KEY" \
				REGISTRY_STORAGE_AZURE_CONTAINER="run-$mode" \
				REGISTRY_STORAGE_AZURE_SERVICEURL="$AZURE_SERVICEURL"
		done
	else
		t_skip "make run on azure" "azurite not installed"
	fi
fi
e2e_done
