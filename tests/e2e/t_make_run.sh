#!/usr/bin/env bash
# t_make_run.sh — admin/run.sh, what `make run` starts after building: nginx
# (and, with FRONT=apache, Apache) in front of `wharf serve` on one port,
# storage under WHARF_DATA, runtime files under WHARF_RUNDIR. A push and a
# pull through it are byte-identical; REGISTRY_* variables reach the
# registry (REGISTRY_STORAGE_DELETE_ENABLED=true allows a delete); a busy
# port is refused with a message; SIGTERM (what Ctrl-C amounts to) stops
# everything, removes the socket and exits 0.
#
# Issue 11 (make run as a new user meets it): the front serves blobs from
# the root Wharf really uses (REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY), and
# a wrong blob alias falls back to Wharf instead of 404; CONFIG=file serves a
# reference-style config.yml (its root, auth, http.addr; REGISTRY_* still
# override it); SIGTERM to `make run`'s whole process group, once or twice,
# and a SIGKILL of admin/run.sh leave nothing running; a huge Authorization
# header gets Wharf's 401 through nginx and Apache, not 400 from the front.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
e2e_init
need=$(need_cmd skopeo curl nginx jq) || { t_skip "make run" "$need"; e2e_done; exit; }

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
	check "$front: GET / is the web UI" sh -c "curl -sf '$url/' | grep -q '/_wharf/ui/app.js'"
	check "$front: the UI's page has a strict Content-Security-Policy" \
		sh -c "curl -s -D - -o /dev/null '$url/' | grep -qi \"^content-security-policy: default-src 'none'\""
	check_eq "$front: the UI's script is served" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/_wharf/ui/app.js")"
	check_eq "$front: /_wharf/api/ reaches Wharf" false \
		"$(curl -s "$url/_wharf/api/whoami" | jq -r .readonly)"
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


# whatever a run left in its own session if the product failed to stop it
# (nginx, the pool, a guardian): never left holding ports after this test
at_exit "pkill -KILL -f -- '$TMP/'"

# start_run LOG ENV...: admin/run.sh in its own session with ENV; waits for
# "Ctrl-C to stop" (RUN_PID set), 1 if it never said so.
start_run() {
	local log=$1 i
	shift
	env ASAN_OPTIONS="${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0}" "$@" \
		setsid "$REPO/admin/run.sh" >"$log" 2>&1 </dev/null &
	RUN_PID=$!
	track_pid "$RUN_PID"
	for ((i = 0; i < 150; i++)); do
		grep -q 'Ctrl-C to stop' "$log" 2>/dev/null && return 0
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 0.1
	done
	diag "$(tail -n 20 "$log")"
	return 1
}
stop_run() { kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null; }
# leftovers DIR: processes whose command line names DIR (nginx -p DIR/run,
# wharf serve -c DIR/..., apache2 -d DIR/run), one per line
leftovers() { pgrep -af -- "$1/" | grep -v -e pgrep -e t_make_run || true; }
# gone_within SECONDS DIR PORT: nothing of DIR left and PORT free in time
gone_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ -z "$(leftovers "$2")" ] && ! port_busy "$3" && return 0
		sleep 0.1
	done
	echo "left running:"
	leftovers "$2"
	return 1
}

# The storage root set by REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY is the
# one nginx sends blobs from (it used to keep ./data: every blob GET 404).
root_override() {
	local dir=$TMP/rootenv port url
	mkdir -p "$dir" && chmod 755 "$dir"
	port=$(free_port) || { t_fail "rootenv: a free port"; return; }
	url=http://127.0.0.1:$port
	start_run "$dir/run.log" WHARF_PORT=$port WHARF_RUNDIR="$dir/run" WHARF_DATA="$dir/data" \
		WHARF_WORKERS=2 REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$dir/srv" ||
		{ t_fail "rootenv: make run starts"; return; }
	check "rootenv: skopeo push" skopeo_copy "oci:$TMP/img:v1" "docker://127.0.0.1:$port/env/app:1"
	check "rootenv: skopeo pull (blobs served by nginx from the overridden root)" \
		skopeo_copy "docker://127.0.0.1:$port/env/app:1" "oci:$TMP/back-env:v1"
	check "rootenv: pulled blobs byte-identical" blobs_same "$TMP/img" "$TMP/back-env"
	check "rootenv: blobs stored under the overridden root" \
		test -d "$dir/srv/docker/registry/v2/blobs/sha256"
	check "rootenv: nothing stored under WHARF_DATA" test ! -e "$dir/data/docker"
	check "rootenv: nginx sent the blobs itself (no fallback warning)" \
		not grep -q "alias is not the storage root" "$dir/run.log"
	# a wrong alias (an admin's typo, a moved root): the blob still arrives,
	# through Wharf, and the log says why
	local layer
	layer=$(find "$dir/srv/docker/registry/v2/blobs/sha256" -name data -size +100k | head -n 1)
	layer=sha256:$(basename "$(dirname "$layer")")
	sed -i "s|alias $dir/srv/;|alias $dir/elsewhere/;|" "$dir/run/wharf-locations.conf"
	nginx -p "$dir/run" -c "$dir/run/nginx.conf" -e "$dir/run/nginx-error.log" -s reload
	sleep 1
	check_eq "wrong alias: blob GET still 200" 200 \
		"$(curl -s -o "$TMP/fallback.blob" -w '%{http_code}' "$url/v2/env/app/blobs/$layer")"
	check_eq "wrong alias: the bytes hash to the digest" "$layer" \
		"sha256:$(sha256sum <"$TMP/fallback.blob" | cut -d' ' -f1)"
	check_eq "wrong alias: a Range GET is 206" 206 \
		"$(curl -s -o /dev/null -w '%{http_code}' -r 5-9 "$url/v2/env/app/blobs/$layer")"
	check_eq "wrong alias: an unknown blob is still 404" 404 \
		"$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/env/app/blobs/sha256:$(printf '%064d' 0)")"
	check "wrong alias: Wharf logs that the alias is not the storage root" \
		grep -q "alias is not the storage root $dir/srv" "$dir/run.log"
	stop_run
}

# CONFIG=file: a reference-style config.yml (root, htpasswd auth, http.addr,
# delete enabled), REGISTRY_STORAGE_DELETE_ENABLED=false overriding it.
config_file() {
	local front=$1 dir=$TMP/cfg-$front port url big
	mkdir -p "$dir" && chmod 755 "$dir"
	port=$(free_port) || { t_fail "$front CONFIG: a free port"; return; }
	url=http://127.0.0.1:$port
	mk_htpasswd "$dir/htpasswd" alice:wonderland
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/registry
  delete:
    enabled: true
auth:
  htpasswd:
    realm: make-run
    path: $dir/htpasswd
http:
  addr: 127.0.0.1:$port
EOF
	start_run "$dir/run.log" FRONT="$front" CONFIG="$dir/config.yml" WHARF_RUNDIR="$dir/run" \
		WHARF_WORKERS=2 REGISTRY_STORAGE_DELETE_ENABLED=false ||
		{ t_fail "$front CONFIG: make run starts"; return; }
	check "$front CONFIG: serves on the file's http.addr" \
		grep -q "Wharf is serving $url through $front (storage $dir/registry)" "$dir/run.log"
	check_eq "$front CONFIG: the file's htpasswd auth applies (401 without credentials)" 401 \
		"$(http_code "$url/v2/")"
	check_eq "$front CONFIG: 200 with the file's user" 200 "$(http_code -u alice:wonderland "$url/v2/")"
	check "$front CONFIG: skopeo push with credentials" skopeo_copy "oci:$TMP/img:v1" \
		"docker://127.0.0.1:$port/cfg/app:1" --dest-creds alice:wonderland
	rm -rf "$TMP/back-cfg-$front"
	check "$front CONFIG: skopeo pull with credentials" skopeo_copy \
		"docker://127.0.0.1:$port/cfg/app:1" "oci:$TMP/back-cfg-$front:v1" --src-creds alice:wonderland
	check "$front CONFIG: pulled blobs byte-identical" blobs_same "$TMP/img" "$TMP/back-cfg-$front"
	check "$front CONFIG: blobs under the file's rootdirectory" \
		test -d "$dir/registry/docker/registry/v2/blobs/sha256"
	check_eq "$front CONFIG: REGISTRY_STORAGE_DELETE_ENABLED=false overrides the file (405)" 405 \
		"$(http_code -X DELETE -u alice:wonderland \
			"$url/v2/cfg/app/manifests/$(cat "$TMP/img.digest")")"
	# credentials far over the fronts' default 8 KiB header line: Wharf's 401
	local len code
	for len in 20000 200000 900000; do
		big=$(head -c $((len * 3 / 4)) /dev/urandom | base64 -w0)
		printf 'Authorization: Basic %s\n' "$big" >"$dir/hdr"
		code=$(curl -s -o "$dir/big.json" -w '%{http_code}' -H @"$dir/hdr" "$url/v2/")
		check_eq "$front: a wrong Basic credential of $len bytes gets 401" 401 "$code"
		check_eq "$front: ... with Wharf's error body" UNAUTHORIZED \
			"$(jq -r '.errors[0].code' "$dir/big.json" 2>/dev/null)"
	done
	printf 'Authorization: Bearer %s\n' "$(head -c 30000 /dev/urandom | base64 -w0 | tr '+/' '-_')" >"$dir/hdr"
	check_eq "$front: a 40 KiB bearer token gets 401" 401 \
		"$(curl -s -o /dev/null -w '%{http_code}' -H @"$dir/hdr" "$url/v2/")"
	stop_run
	check_eq "$front CONFIG: SIGTERM stops it with status 0" 0 "$?"
}

# SIGTERM to make run's process group (systemd, timeout, CI runners, a second
# Ctrl-C): make forwards the TERM to admin/run.sh, which gets it twice.
signals() {
	local dir=$TMP/sig port pg i san=
	mkdir -p "$dir" && chmod 755 "$dir"
	case $BUILD in *asan*) san=SANITIZER=address ;; esac
	for round in once twice; do
		port=$(free_port) || { t_fail "signals: a free port"; return; }
		rm -rf "$dir/run"
		ASAN_OPTIONS="${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0}" setsid make -s -C "$REPO" run $san \
			BUILD="$BUILD" WHARF_PORT="$port" WHARF_RUNDIR="$dir/run" WHARF_DATA="$dir/data" \
			WHARF_WORKERS=2 >"$dir/make-$round.log" 2>&1 </dev/null &
		pg=$!
		track_pid "$pg"
		for ((i = 0; i < 300; i++)); do
			grep -q 'Ctrl-C to stop' "$dir/make-$round.log" 2>/dev/null && break
			sleep 0.1
		done
		if ! grep -q 'Ctrl-C to stop' "$dir/make-$round.log"; then
			t_fail "signals: make run starts" "$(tail -n 20 "$dir/make-$round.log")"
			kill -KILL -- "-$pg" 2>/dev/null
			return
		fi
		kill -TERM -- "-$pg"
		if [ $round = twice ]; then
			sleep 0.3
			kill -TERM -- "-$pg" 2>/dev/null
		fi
		check "signals: SIGTERM $round to make run's process group: nothing left within 15 s" \
			gone_within 15 "$dir" "$port"
		check "signals: ($round) the socket is removed" test ! -e "$dir/run/wharf.sock"
		wait "$pg" 2>/dev/null
	done
	# SIGKILL of admin/run.sh itself: its guardian stops what it started
	port=$(free_port)
	start_run "$dir/kill.log" WHARF_PORT="$port" WHARF_RUNDIR="$dir/run" WHARF_DATA="$dir/data" \
		WHARF_WORKERS=2 || { t_fail "signals: make run starts (kill)"; return; }
	kill -KILL "$RUN_PID"
	check "signals: SIGKILL of admin/run.sh: nothing left within 15 s" gone_within 15 "$dir" "$port"
}

run_front nginx
root_override
config_file nginx
signals
if command -v apache2 >/dev/null && [ -e /usr/lib/apache2/modules/mod_xsendfile.so ]; then
	run_front apache
	config_file apache
else
	t_skip "make run FRONT=apache" "apache2 or mod_xsendfile not installed"
fi
e2e_done
