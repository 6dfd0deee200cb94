#!/usr/bin/env bash
# tests/bench/storage.sh — the object-store drivers of issue 15 side by side,
# results for tests/bench/RESULTS-storage.md. Everything on this machine, on
# loopback: an OpenStack Swift all-in-one (tests/storage/swift_lib.sh; native
# API with tempauth, and s3api) and, when azurite is installed, an azurite
# blob service (tests/storage/azure_lib.sh). Targets:
#   ref-swift    the reference registry (docker-registry 2.8.2) with its
#                storage.swift driver on the container "bench", prefix /ref
#   wharf-swift  nginx + wharf serve, storage.swift on the same container,
#                prefix /wharf
#   wharf-s3     nginx + wharf serve, storage.s3 on the same Swift (s3api),
#                bucket "bench-s3": Wharf's own S3 numbers on the same disk
#   wharf-azure  nginx + wharf serve, storage.azure on azurite
# All with redirects on (each one's default: TempURL, presigned URL, SAS).
# bench.py --only blobs,images: a BLOB_MB MiB blob pushed monolithic and
# chunked and pulled, and a 5-layer image pushed and pulled with skopeo.
# Env: REPEAT (2), BLOB_MB (256), LAYER_MB (16), OUT (tests/bench/results/storage-<time>).
source "$(dirname "$0")/../e2e/lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
e2e_init
REPEAT=${REPEAT:-2}
BLOB_MB=${BLOB_MB:-256}
LAYER_MB=${LAYER_MB:-16}
BENCH=$REPO/../shared/bench
[ -f "$BENCH/bench.py" ] || BENCH=/work/shared/bench
OUT=${OUT:-$REPO/tests/bench/results/storage-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$OUT")"

at_exit swift_stop
swift_start "$TMP/swift" || { echo "swift does not start" >&2; exit 1; }
swift_bucket bench || exit 1
swift_bucket bench-s3 || exit 1
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
common='log:
  level: warn
  accesslog:
    disabled: true
fastcgi:
  workers: 8
  blobs:
    accel: none'
cat >"$TMP/swift.yml" <<EOF2
version: 0.1
$common
storage:
  swift:
    authurl: $SWIFT_ENDPOINT/auth/v1.0
    username: test:tester
    password: testing
    container: bench
    prefix: /wharf
    secretkey: bench-tempurl-key
EOF2
cat >"$TMP/s3.yml" <<EOF2
version: 0.1
$common
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: bench-s3
    rootdirectory: /wharf
    secure: false
    v4auth: true
    chunksize: 10485760
EOF2
targets=()
node_start() { # node_start NAME CONFIG
	local n=$1 d=$TMP/node-$1 port
	mkdir -p "$d" && chmod 755 "$d"
	port=$(free_port) || return 1
	# bodies as files where nginx_render puts them (make run does the same
	# for object stores): the worker sends a finished file to the store
	env REGISTRY_FASTCGI_LISTEN="unix:$d/wharf.sock" REGISTRY_FASTCGI_PIDFILE="$d/wharf.pid" \
		REGISTRY_FASTCGI_UPLOADS_BODYDIR="$d/wharf/body" \
		"$WHARF_BIN" serve -c "$2" >"$d/wharf.log" 2>&1 </dev/null &
	track_pid $!
	for _ in $(seq 100); do [ -S "$d/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$d" "127.0.0.1:$port" "$d/wharf.sock" "$d" || return 1
	nginx_start "$d" || return 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || { tail "$d/wharf.log" >&2; return 1; }
	targets+=(--target "$n=http://127.0.0.1:$port")
}

RP=$(free_port)
cat >"$TMP/ref.yml" <<EOF2
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  swift:
    authurl: $SWIFT_ENDPOINT/auth/v1.0
    username: test:tester
    password: testing
    container: bench
    prefix: /ref
    secretkey: bench-tempurl-key
http:
  addr: 127.0.0.1:$RP
EOF2
env -u AWS_CA_BUNDLE docker-registry serve "$TMP/ref.yml" >"$TMP/ref.log" 2>&1 </dev/null &
track_pid $!
wait_http "http://127.0.0.1:$RP/v2/" "$!" 20 || { tail "$TMP/ref.log" >&2; exit 1; }
targets+=(--target "ref-swift=http://127.0.0.1:$RP")
node_start wharf-swift "$TMP/swift.yml" || exit 1
node_start wharf-s3 "$TMP/s3.yml" || exit 1
if [ -f "$REPO/tests/storage/azure_lib.sh" ]; then
	source "$REPO/tests/storage/azure_lib.sh"
	if azure_start "$TMP/azurite"; then
		at_exit azure_stop
		cat >"$TMP/azure.yml" <<EOF2
version: 0.1
$common
storage:
  azure:
    accountname: $AZURE_ACCOUNT
    accountkey: $AZURE_KEY
    container: bench
    serviceurl: $AZURE_SERVICEURL
EOF2
		node_start wharf-azure "$TMP/azure.yml" || exit 1
	else
		echo "# azurite does not start: no wharf-azure target" >&2
	fi
fi

export BENCH_TMP=$TMP BENCH_BLOB_MB=$BLOB_MB BENCH_IMAGE_LAYERS=5 BENCH_LAYER_MB=$LAYER_MB
echo "# $BLOB_MB MiB blob and 5 x $LAYER_MB MB image, repeat $REPEAT" >&2
python3 "$BENCH/bench.py" --only blobs,images --repeat "$REPEAT" --out "$OUT" \
	--title "Object stores: Wharf (swift, s3, azure) vs the reference (swift)" "${targets[@]}"
echo "# results: $OUT.md" >&2
e2e_done
