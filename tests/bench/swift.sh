#!/usr/bin/env bash
# tests/bench/swift.sh — Swift storage timings (issue 15), results for
# docs/storage-swift.md. Everything on this machine, on loopback: an
# OpenStack Swift all-in-one (tests/storage/swift_lib.sh, native API,
# TempAuth) and:
#   ref          the reference registry (docker-registry 2.8.2) with
#                storage.swift on container bench-ref, redirects on (TempURLs,
#                its default when the cluster offers them)
#   wharf        nginx + wharf serve, storage.swift on container bench-wharf,
#                blob GETs answered 307 to TempURLs
#   wharf-stream the same config.yml with storage.redirect.disable: the
#                worker streams
# Both registries use the reference's default segment size (20 MiB) and the
# same secretkey. bench.py --only blobs,images: a BLOB_MB MiB blob pushed
# monolithic and chunked and pulled (redirect followed), a 5-layer image
# pushed and pulled with skopeo, 8 concurrent skopeo pushes.
# Env: REPEAT (2), BLOB_MB (256), LAYER_MB (32), OUT (tests/bench/results/swift-<time>).
# HOLD=1: no benchmark; the environment is left running for profiling by hand
# (Wharf at log level debug: node1/wharf.log has a line per Swift request
# with its status and time), ports and work directory in /tmp/perf.env,
# until Ctrl-C.
source "$(dirname "$0")/../e2e/lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
e2e_init
REPEAT=${REPEAT:-2}
BLOB_MB=${BLOB_MB:-256}
LAYER_MB=${LAYER_MB:-32}
BENCH=$REPO/../shared/bench
[ -f "$BENCH/bench.py" ] || BENCH=/work/shared/bench
OUT=${OUT:-$REPO/tests/bench/results/swift-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$OUT")"

at_exit swift_stop
swift_start "$TMP/swift" || { echo "swift does not start" >&2; exit 1; }
swift_yml() {
	cat <<EOF2
  swift:
    authurl: $SWIFT_ENDPOINT/auth/v1.0
    username: test:tester
    password: testing
    container: $1
    secretkey: bench-tempurl-key
EOF2
}
LEVEL=warn
[ -n "${HOLD:-}" ] && LEVEL=debug
CFG=$TMP/config.yml
cat >"$CFG" <<EOF2
version: 0.1
log:
  level: $LEVEL
  accesslog:
    disabled: true
storage:
$(swift_yml bench-wharf)
fastcgi:
  workers: 8
  blobs:
    accel: none
EOF2
node_start() {
	local n=$1 d=$TMP/node$1 port
	shift
	mkdir -p "$d" && chmod 755 "$d"
	port=$(free_port) || return 1
	# upload bodies written to files by nginx, handed to Wharf (fastcgi.uploads.bodydir)
	env "$@" REGISTRY_FASTCGI_LISTEN="unix:$d/wharf.sock" REGISTRY_FASTCGI_PIDFILE="$d/wharf.pid" \
		REGISTRY_FASTCGI_UPLOADS_BODYDIR="$d/body" \
		"$WHARF_BIN" serve -c "$CFG" >"$d/wharf.log" 2>&1 </dev/null &
	track_pid $!
	for _ in $(seq 100); do [ -S "$d/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$d" "127.0.0.1:$port" "$d/wharf.sock" "$d" "$d/body" || return 1
	nginx_start "$d" || return 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || return 1
	eval "N${n}_PORT=$port"
}
node_start 1 || exit 1
node_start 2 REGISTRY_STORAGE_REDIRECT_DISABLE=true || exit 1

RP=$(free_port)
cat >"$TMP/ref.yml" <<EOF2
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
$(swift_yml bench-ref)
http:
  addr: 127.0.0.1:$RP
EOF2
docker-registry serve "$TMP/ref.yml" >"$TMP/ref.log" 2>&1 </dev/null &
REF_PID=$!
track_pid $REF_PID
wait_http "http://127.0.0.1:$RP/v2/" "$REF_PID" 20 || { tail "$TMP/ref.log" >&2; exit 1; }

if [ -n "${HOLD:-}" ]; then
	echo "RP=$RP N1=$N1_PORT N2=$N2_PORT TMP=$TMP SWIFT_ENDPOINT=$SWIFT_ENDPOINT" >/tmp/perf.env
	echo "# holding; ports in /tmp/perf.env" >&2
	sleep infinity &
	wait
fi
export BENCH_TMP=$TMP BENCH_BLOB_MB=$BLOB_MB BENCH_IMAGE_LAYERS=5 BENCH_LAYER_MB=$LAYER_MB
echo "# $BLOB_MB MiB blob and 5 x $LAYER_MB MB image, repeat $REPEAT" >&2
python3 "$BENCH/bench.py" --only blobs,images --repeat "$REPEAT" --out "$OUT" \
	--title "Swift (native API): Wharf vs the reference" \
	--target ref=http://127.0.0.1:$RP --target wharf=http://127.0.0.1:$N1_PORT \
	--target wharf-stream=http://127.0.0.1:$N2_PORT
e2e_done
