# lib.sh — shared helpers for the end-to-end tests (bash; `source` it).
# shellcheck shell=bash
#
# Every test script: `source "$(dirname "$0")/lib.sh"`, then `e2e_init`, then
# checks, then `e2e_done` (its exit status). Everything lives under $TMP
# (mktemp -d), every process started here is killed and $TMP removed on EXIT.
#
# Environment:
#   BUILD             build dir holding wharf (default: build; relative to the repo)
#   WHARF_BIN         the wharf binary (default: $BUILD/wharf)
#   WHARF_E2E_TARGET  wharf (default) | reference: run the same tests against
#                     the reference registry (docker-registry) behind the same
#                     nginx with proxy_pass — proves a failure is Wharf's, not
#                     the test's
#   WHARF_E2E_KEEP=1  keep $TMP (logs, configs) after the run; =onfail: only
#                     when a check failed
#   WHARF_E2E_WORKERS workers of `wharf serve` (default 4)
#   WHARF_E2E_CONFIG_APPEND a file appended to Wharf's config.yml (top-level
#                     sections, e.g. notifications:)
#   WHARF_E2E_ROOTS   a directory (tests/run.sh sets it): every filesystem
#                     root a test's registries wrote is kept there (hard
#                     links) at exit, for t_zz_reference_gc.sh to check that
#                     the reference registry can read all of it
#
# Registry instance (wharf_start/wharf_stop) variables:
#   W_HOST 127.0.0.1:PORT (nginx), W_URL http://$W_HOST, W_ROOT storage root,
#   W_DIR its run dir, W_PID wharf master (or reference registry) pid,
#   W_NGINX_PID, W_SOCK.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
WHARF_BIN=${WHARF_BIN:-$BUILD/wharf}
E2E_TARGET=${WHARF_E2E_TARGET:-wharf}
MKIMAGE="$E2E_DIR/fixtures/mkimage.py"
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
export LC_ALL=C

T_PASS=0
T_FAIL=0
T_SKIP=0
E2E_PIDS=()        # processes to stop at exit (TERM, then KILL)
E2E_CLEANUPS=()    # commands run at exit, last registered first
E2E_ROOTS=()       # storage roots of wharf_start, kept in $WHARF_E2E_ROOTS at exit

# ---- TAP -------------------------------------------------------------------

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
t_ok() { echo "ok - $1"; T_PASS=$((T_PASS + 1)); }
t_fail() {
	echo "not ok - $1"
	T_FAIL=$((T_FAIL + 1))
	shift
	[ $# -gt 0 ] && diag "$@"
	return 0
}
t_skip() { echo "ok - $1 # SKIP $2"; T_SKIP=$((T_SKIP + 1)); }
# t_result NAME STATUS [diag...]: ok when STATUS is 0.
t_result() {
	local name=$1 st=$2
	shift 2
	if [ "$st" -eq 0 ]; then t_ok "$name"; else t_fail "$name" "$@"; fi
}
# check NAME CMD...: run CMD (output captured), ok if it succeeds; on failure
# its last output lines become TAP diagnostics.
check() {
	local name=$1
	shift
	if "$@" >"$TMP/.check.out" 2>&1; then
		t_ok "$name"
	else
		t_fail "$name" "command: $*"
		diag "$(tail -n 25 "$TMP/.check.out")"
	fi
}
# check_eq NAME EXPECTED ACTUAL
# An empty EXPECTED is a failure: it means an earlier step produced nothing.
check_eq() {
	if [ -z "$2" ]; then
		t_fail "$1" "expected value is empty (an earlier step failed); actual: $3"
	elif [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_fail "$1" "expected: $2" "actual:   $3"
	fi
}
# wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds (1 after SECONDS)
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
e2e_done() {
	diag "$(basename "$0"): $T_PASS passed ($T_SKIP skipped), $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}

# need_cmd CMD...: 0 when every command exists, else prints which is missing.
need_cmd() {
	local c missing=""
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
	[ -z "$missing" ] && return 0
	echo "missing:$missing"
	return 1
}

# ---- setup / teardown ------------------------------------------------------

e2e_cleanup() {
	local i pid
	for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${E2E_PIDS[@]}"; do stop_pid "$pid" 5; done
	e2e_keep_roots
	if [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
		# Anything a container engine left mounted under $TMP.
		awk -v t="$TMP" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null; done
		if [ "${WHARF_E2E_KEEP:-0}" = 1 ] || { [ "${WHARF_E2E_KEEP:-0}" = onfail ] && [ "$T_FAIL" -gt 0 ]; }; then
			echo "# kept $TMP" >&2
		else
			rm -rf "$TMP" 2>/dev/null || { chattr -R -i "$TMP" 2>/dev/null; rm -rf "$TMP"; }
		fi
	fi
}

# e2e_keep_roots: each root the test's registries wrote (one holding
# repositories), hard-linked into $WHARF_E2E_ROOTS/<test>.<n> — copied where
# linking fails (another filesystem, immutable files).
e2e_keep_roots() {
	[ -n "${WHARF_E2E_ROOTS:-}" ] && [ -d "$WHARF_E2E_ROOTS" ] || return 0
	local root dest n=0 name seen=" "
	name=$(basename "$0" .sh)
	for root in "${E2E_ROOTS[@]}"; do
		case $seen in *" $root "*) continue ;; esac
		seen="$seen$root "
		[ -d "$root/docker/registry/v2/repositories" ] || continue
		n=$((n + 1))
		dest=$WHARF_E2E_ROOTS/$name.$n
		cp -al "$root" "$dest" 2>/dev/null || { rm -rf "$dest"; cp -a "$root" "$dest"; }
	done
}

# e2e_init: temp dir, traps. The temp dir is world-searchable: nginx workers
# run as nobody and must reach the socket and the blob files inside it.
e2e_init() {
	# Lowercase name: podman derives image names from oci: layout paths.
	TMP=${TMPDIR:-/tmp}/wharf-e2e.$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -m 755 "$TMP" || exit 1
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	umask 022
	diag "target: $E2E_TARGET, tmp: $TMP"
}

at_exit() { E2E_CLEANUPS+=("$*"); }
track_pid() { E2E_PIDS+=("$1"); }

# stop_pid PID [SECONDS]: TERM, wait up to SECONDS (default 10), then KILL.
stop_pid() {
	local pid=$1 secs=${2:-10} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port: a loopback port in 15000-25000 nobody listens on.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((15000 + RANDOM % 10000))
		port_busy "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# wait_http URL PID [SECONDS [CURL ARGS...]]: until URL answers 200 or 401,
# while PID lives.
wait_http() {
	local url=$1 pid=$2 secs=${3:-20} i code
	shift $(($# < 3 ? $# : 3))
	for ((i = 0; i < secs * 10; i++)); do
		code=$(curl -s -o /dev/null -m 2 "$@" -w '%{http_code}' "$url" 2>/dev/null)
		case $code in 200 | 401) return 0 ;; esac
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- nginx ------------------------------------------------------------------

# nginx_locations_render SRC DST ROOT BODYDIR: the snippet SRC with its alias
# set to ROOT and its upload location receiving bodies into BODYDIR (Wharf's
# fastcgi.uploads.bodydir); BODYDIR empty: uploads stream through Wharf
# (bodyfiles: false): the lines marked wharf:bodyfiles go, the one marked
# wharf:streaming is uncommented — as the snippet's header tells users.
nginx_locations_render() {
	local src=$1 dst=$2 root=$3 bodydir=$4
	if [ -n "$bodydir" ]; then
		mkdir -p "$bodydir"
		sed -e "s|alias /var/lib/registry/;|alias ${root%/}/;|" -e "s|/usr/share/wharf/ui|$REPO/admin/ui|g" \
			-e "s|client_body_temp_path /var/lib/registry/wharf/body;|client_body_temp_path $bodydir;|" \
			"$src" >"$dst"
		grep -q "client_body_temp_path $bodydir;" "$dst" || return 1
		grep -q '^ *error_page 500 = @wharf_body_failed;' "$dst" || return 1
	else
		sed -e "s|alias /var/lib/registry/;|alias ${root%/}/;|" -e "s|/usr/share/wharf/ui|$REPO/admin/ui|g" \
			-e '/# wharf:bodyfiles$/d' \
			-e 's|^\( *\)# \(.*# wharf:streaming\)$|\1\2|' "$src" >"$dst"
		grep -q '^ *fastcgi_request_buffering off; .*# wharf:streaming$' "$dst" || return 1
	fi
	grep -q "alias ${root%/}/;" "$dst"
}

# nginx_render RUNDIR LISTEN SOCKET ROOT [BODYDIR]: RUNDIR/nginx.conf from
# nginx-conf/nginx.conf.in and RUNDIR/wharf-locations.conf from the snippet,
# its alias set to ROOT — the snippet users include is what gets tested.
# BODYDIR: where nginx puts upload bodies (default ROOT/wharf/body, Wharf's
# default with the filesystem driver; "" streams them, bodyfiles: false).
nginx_render() {
	local dir=$1 listen=$2 sock=$3 root=$4 bodydir=${5-$4/wharf/body}
	mkdir -p "$dir/tmp"
	sed -e "s|@RUNDIR@|$dir|g" -e "s|@LISTEN@|$listen|g" -e "s|@SOCKET@|$sock|g" \
		-e "s|@ROOT@|$root|g" "$REPO/nginx-conf/nginx.conf.in" >"$dir/nginx.conf"
	nginx_locations_render "$REPO/nginx-conf/wharf-locations.conf" "$dir/wharf-locations.conf" \
		"$root" "$bodydir"
}

# nginx_render_proxy RUNDIR LISTEN BACKEND: a throwaway config putting the
# reference registry (at BACKEND host:port) behind nginx with proxy_pass.
nginx_render_proxy() {
	local dir=$1 listen=$2 backend=$3
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format wharf '\$remote_addr - \$remote_user [\$time_local] "\$request" '
                     '\$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" '
                     'te="\$http_transfer_encoding" cl="\$content_length" '
                     'rl=\$request_length rt=\$request_time';
    access_log $dir/nginx-access.log wharf;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $listen;
        location /v2/ {
            proxy_pass http://$backend;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_request_buffering off;
            client_max_body_size 0;
            proxy_read_timeout 900s;
            proxy_send_timeout 900s;
        }
    }
}
EOF
}

# nginx_start RUNDIR: start nginx in the background; sets NGINX_PID.
nginx_start() {
	local dir=$1
	nginx -t -q -e "$dir/nginx-error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/nginx-test.log" 2>&1 || {
		diag "nginx -t failed:" "$(cat "$dir/nginx-test.log")"
		return 1
	}
	nginx -e "$dir/nginx-error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/nginx-stderr.log" 2>&1 </dev/null &
	NGINX_PID=$!
	track_pid "$NGINX_PID"
}

# ---- registries -------------------------------------------------------------

# refreg_config FILE ROOT PORT: a reference registry config.yml.
refreg_config() {
	cat >"$1" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$3
  secret: e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF
}

# refreg_start DIR ROOT: the reference registry alone on a free port.
# Sets R_HOST, R_PID. Its log: DIR/registry.log.
refreg_start() {
	local dir=$1 root=$2 port
	mkdir -p "$dir" "$root"
	port=$(free_port) || return 1
	refreg_config "$dir/config.yml" "$root" "$port"
	env -u AWS_CA_BUNDLE docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
	R_PID=$!
	track_pid "$R_PID"
	R_HOST=127.0.0.1:$port
	wait_http "http://$R_HOST/v2/" "$R_PID" 20 || {
		diag "reference registry did not start:" "$(tail -n 20 "$dir/registry.log")"
		return 1
	}
}
refreg_stop() { [ -n "${R_PID:-}" ] && stop_pid "$R_PID" 10; R_PID=; }

# wharf_config FILE ROOT SOCK DIR: a Wharf config.yml (the reference schema
# plus Wharf's fastcgi section); WHARF_E2E_WORKERS, WHARF_E2E_LOGLEVEL.
wharf_config() {
	local file=$1 root=$2 sock=$3 dir=$4
	cat >"$file" <<EOF
version: 0.1
log:
  level: ${WHARF_E2E_LOGLEVEL:-info}
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
http:
  secret: e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
fastcgi:
  listen: unix:$sock
  workers: ${WHARF_E2E_WORKERS:-4}
  blobs:
    accel: ${WHARF_E2E_ACCEL:-nginx}
    prefix: /_wharf_blobs/
  pidfile: $dir/wharf.pid
EOF
	# WHARF_E2E_BODYFILES=false: uploads stream through the workers (and
	# nginx_render is told so by wharf_start)
	if [ -n "${WHARF_E2E_BODYFILES:-}" ]; then
		printf '  uploads:\n    bodyfiles: %s\n' "$WHARF_E2E_BODYFILES" >>"$file"
	fi
	# WHARF_E2E_CONFIG_APPEND: a file of top-level sections added at the end
	if [ -n "${WHARF_E2E_CONFIG_APPEND:-}" ]; then cat "$WHARF_E2E_CONFIG_APPEND" >>"$file"; fi
}

# wharf_start [ROOT]: the registry under test behind nginx on a free port
# (WHARF_E2E_TARGET=reference: the reference registry instead of Wharf).
# ROOT defaults to a new dir. Sets W_* (see top). Returns 1 on failure.
W_N=0
wharf_start() {
	W_N=$((W_N + 1))
	W_DIR=$TMP/reg$W_N
	W_ROOT=${1:-$TMP/reg$W_N-data}
	mkdir -p "$W_DIR" "$W_ROOT"
	chmod 755 "$W_DIR"
	E2E_ROOTS+=("$W_ROOT")
	local port
	port=$(free_port) || return 1
	W_HOST=127.0.0.1:$port
	W_URL=http://$W_HOST
	W_SOCK=$W_DIR/wharf.sock
	if [ "$E2E_TARGET" = reference ]; then
		refreg_start "$W_DIR/ref" "$W_ROOT" || return 1
		W_PID=$R_PID
		R_PID=
		nginx_render_proxy "$W_DIR" "$W_HOST" "$R_HOST"
	else
		[ -x "$WHARF_BIN" ] || { diag "no wharf binary at $WHARF_BIN"; return 1; }
		wharf_config "$W_DIR/config.yml" "$W_ROOT" "$W_SOCK" "$W_DIR"
		# LeakSanitizer (ASan builds) would report the pool's exits: leaks
		# are checked by the unit tests, crashes and overflows here.
		ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
			"$WHARF_BIN" serve -c "$W_DIR/config.yml" >"$W_DIR/wharf.log" 2>&1 </dev/null &
		W_PID=$!
		track_pid "$W_PID"
		local i
		for ((i = 0; i < 100; i++)); do
			[ -S "$W_SOCK" ] && break
			kill -0 "$W_PID" 2>/dev/null || break
			sleep 0.1
		done
		[ -S "$W_SOCK" ] || {
			diag "wharf serve did not create $W_SOCK:" "$(tail -n 20 "$W_DIR/wharf.log")"
			return 1
		}
		local bodydir=$W_ROOT/wharf/body
		[ "${WHARF_E2E_BODYFILES:-true}" = false ] && bodydir=
		nginx_render "$W_DIR" "$W_HOST" "$W_SOCK" "$W_ROOT" "$bodydir" || return 1
	fi
	nginx_start "$W_DIR" || return 1
	W_NGINX_PID=$NGINX_PID
	wait_http "$W_URL/v2/" "$W_NGINX_PID" 20 || {
		diag "no answer on $W_URL/v2/" "$(tail -n 10 "$W_DIR/nginx-error.log" 2>/dev/null)" \
			"$(tail -n 10 "$W_DIR/wharf.log" 2>/dev/null)"
		return 1
	}
	diag "registry ($E2E_TARGET) at $W_URL, root $W_ROOT"
}

# wharf_stop: stop nginx and the registry; a sanitizer report in Wharf's log
# is a failure.
wharf_stop() {
	[ -n "${W_NGINX_PID:-}" ] && stop_pid "$W_NGINX_PID" 5
	[ -n "${W_PID:-}" ] && stop_pid "$W_PID" 15
	W_NGINX_PID=
	W_PID=
	if [ "$E2E_TARGET" != reference ] && [ -f "$W_DIR/wharf.log" ]; then
		if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$W_DIR/wharf.log"; then
			t_fail "no sanitizer report in wharf log ($W_DIR)" \
				"$(grep -E -A 15 'Sanitizer|runtime error:' "$W_DIR/wharf.log" | head -n 40)"
		fi
		# a worker that crashed on its own (SIGKILL from a test is not a crash)
		if grep -qE 'killed by signal (4|6|7|8|11) ' "$W_DIR/wharf.log"; then
			t_fail "no worker crashed ($W_DIR)" "$(grep -E 'killed by signal' "$W_DIR/wharf.log" | head -n 5)"
		fi
	fi
}

# wharf_children: pids of the processes whose parent is the wharf master.
wharf_children() {
	# pgrep: one process, not one awk per process of the machine (seconds
	# on a loaded CI host, in loops that poll)
	if command -v pgrep >/dev/null; then
		pgrep -P "$W_PID" | sort -n
		return 0
	fi
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null)" = "$W_PID" ] && echo "${p#/proc/}"
	done | sort -n
}

# ---- images and clients -----------------------------------------------------

# mkimage DIR [args...]: an OCI layout made offline (see fixtures/mkimage.py);
# prints the tagged manifest digest.
mkimage() { "$PYTHON" "$MKIMAGE" "$@"; }

SKOPEO=(skopeo --insecure-policy)
# skopeo_copy SRC DST [args...]: plain-HTTP registries.
skopeo_copy() {
	local src=$1 dst=$2
	shift 2
	"${SKOPEO[@]}" copy -q --src-tls-verify=false --dest-tls-verify=false "$@" "$src" "$dst"
}

# blob_sums DIR: "sha256 name" of every blob of an OCI layout (blobs/sha256/*)
# or a dir: layout (files named by hex digest), sorted.
blob_sums() {
	local d=$1
	[ -d "$d/blobs/sha256" ] && d=$d/blobs/sha256
	[ -d "$d" ] || { echo "no such layout: $1" >&2; return 1; }
	(cd "$d" && find . -maxdepth 1 -type f -regextype posix-extended -regex '\./[0-9a-f]{64}' \
		-printf '%f\n' | sort | xargs -r sha256sum)
}
# blobs_self_consistent DIR: every blob's content hashes to its name.
blobs_self_consistent() {
	local sums
	sums=$(blob_sums "$1") && [ -n "$sums" ] || { echo "no blobs in $1"; return 1; }
	echo "$sums" | awk '{ sub(/^\*/, "", $2); if ($1 != $2) { print "mismatch " $2; bad = 1 } } END { exit bad }'
}
# blobs_subset A B: every blob of A is in B, byte-identical.
blobs_subset() {
	local missing a b
	a=$(blob_sums "$1") && b=$(blob_sums "$2") && [ -n "$a" ] || { echo "no blobs in $1 or $2"; return 1; }
	missing=$(comm -23 <(echo "$a") <(echo "$b"))
	[ -z "$missing" ] || { echo "blobs of $1 missing or different in $2:"; echo "$missing"; return 1; }
}
# blobs_same A B: same set of blobs, byte-identical.
blobs_same() { blobs_subset "$1" "$2" && blobs_subset "$2" "$1"; }
# oci_top_digest DIR [TAG]: digest index.json gives for TAG (default: first).
oci_top_digest() {
	if [ -n "${2:-}" ]; then
		jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
	else
		jq -r '.manifests[0].digest' "$1/index.json"
	fi
}

# store_has_blob ROOT DIGEST: the blob's data file exists in the distribution layout.
store_blob_path() { local h=${2#sha256:}; echo "$1/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"; }

# ---- dockerd ----------------------------------------------------------------

# dockerd_start: a private dockerd (vfs, no networking setup) under $TMP.
# Sets DOCKER_HOST (exported), DOCKER (client binary). Extra dockerd arguments:
# the array DOCKERD_ARGS (e.g. --config-file FILE with registry-mirrors).
dockerd_start() {
	local d=$TMP/docker
	mkdir -p "$d"
	DOCKER=docker
	[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
	dockerd --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/sock" \
		--storage-driver vfs --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
		"${DOCKERD_ARGS[@]}" \
		>"$d/dockerd.log" 2>&1 </dev/null &
	dockerd_ready "$!" "$d"
}

# dockerd_ready PID DIR: track the dockerd just started (socket DIR/sock, log
# DIR/dockerd.log), export DOCKER_HOST, wait up to 30 s for it to answer.
dockerd_ready() {
	local d=$2 i
	DOCKERD_PID=$1
	track_pid "$DOCKERD_PID"
	export DOCKER_HOST=unix://$d/sock
	for ((i = 0; i < 300; i++)); do
		"$DOCKER" version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	diag "dockerd did not start:" "$(tail -n 20 "$d/dockerd.log")"
	return 1
}
