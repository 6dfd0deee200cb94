#!/usr/bin/env bash
# t_make_run.sh — admin/run.sh, what `make run` starts after building: nginx
# (and, with FRONT=apache, Apache) in front of `wharf serve` on one port,
# storage under WHARF_DATA, runtime files under WHARF_RUNDIR. A push and a
# pull through it are byte-identical; REGISTRY_* variables reach the
# registry (REGISTRY_STORAGE_DELETE_ENABLED=true allows a delete); a busy
# port is refused with a message; SIGTERM (what Ctrl-C amounts to) stops
# everything, removes the socket and exits 0.
source "$(dirname "$0")/lib.sh"
e2e_init
need=$(need_cmd skopeo curl nginx) || { t_skip "make run" "$need"; e2e_done; exit; }

mkimage "$TMP/img" --tag v1 --layers 2 --size 300000 --seed make-run >"$TMP/img.digest"

# run_front FRONT: start admin/run.sh with that front on a free port and test it
run_front() {
	local front=$1 port dir pid i code
	port=$(free_port) || { t_fail "$front: a free port"; return; }
	dir=$TMP/$front
	mkdir -p "$dir"
	chmod 755 "$dir"
	FRONT=$front WHARF_PORT=$port WHARF_RUNDIR=$dir/run WHARF_DATA=$dir/data WHARF_WORKERS=2 \
		REGISTRY_STORAGE_DELETE_ENABLED=true \
		ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
		setsid "$REPO/admin/run.sh" >"$dir/run.log" 2>&1 </dev/null &
	pid=$!
	track_pid "$pid"
	for ((i = 0; i < 150; i++)); do
		grep -q 'Ctrl-C to stop' "$dir/run.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "Wharf is serving http://127.0.0.1:$port through $front" "$dir/run.log"; then
		t_fail "$front: make run says it serves on port $port" "$(tail -n 20 "$dir/run.log")"
		return
	fi
	t_ok "$front: make run says it serves on port $port"
	local url=http://127.0.0.1:$port
	check_eq "$front: GET /v2/ answers 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/")"
	check "$front: skopeo push" skopeo_copy "oci:$TMP/img:v1" "docker://127.0.0.1:$port/demo/app:1"
	rm -rf "$TMP/back-$front"
	check "$front: skopeo pull" skopeo_copy "docker://127.0.0.1:$port/demo/app:1" "oci:$TMP/back-$front:v1"
	check "$front: pulled blobs byte-identical" blobs_same "$TMP/img" "$TMP/back-$front"
	check "$front: blobs live under WHARF_DATA" test -d "$dir/data/docker/registry/v2/blobs/sha256"
	check "$front: run files under WHARF_RUNDIR" test -S "$dir/run/wharf.sock" -a -f "$dir/run/config.yml"
	code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE \
		"$url/v2/demo/app/manifests/$(cat "$TMP/img.digest")")
	check_eq "$front: REGISTRY_STORAGE_DELETE_ENABLED=true reaches Wharf (manifest DELETE 202)" 202 "$code"
	# a second one on the same port is refused
	FRONT=$front WHARF_PORT=$port WHARF_RUNDIR=$dir/run2 WHARF_DATA=$dir/data2 \
		"$REPO/admin/run.sh" >"$dir/busy.log" 2>&1 </dev/null
	check_eq "$front: a second make run on the same port exits 1" 1 "$?"
	check "$front: it says the port is busy" grep -q "port $port is busy" "$dir/busy.log"
	local master
	master=$(cat "$dir/run/wharf.pid" 2>/dev/null)
	kill -TERM "$pid"
	wait "$pid"
	check_eq "$front: SIGTERM stops it with status 0" 0 "$?"
	check "$front: the socket is removed" test ! -e "$dir/run/wharf.sock"
	check "$front: the Wharf master is gone" test -n "$master" -a ! -d "/proc/$master"
	check "$front: the port is free again" not_busy "$port"
}
not_busy() { ! port_busy "$1"; }

run_front nginx
if command -v apache2 >/dev/null && [ -e /usr/lib/apache2/modules/mod_xsendfile.so ]; then
	run_front apache
else
	t_skip "make run FRONT=apache" "apache2 or mod_xsendfile not installed"
fi
e2e_done
