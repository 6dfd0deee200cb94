#!/usr/bin/env bash
# tests/bench/azure.sh — Azure storage timings (issue 15), results for
# docs/storage-azure.md. Everything on this machine, on loopback: azurite
# (tests/storage/azure_lib.sh), an OpenStack Swift all-in-one with s3api
# (tests/storage/swift_lib.sh), and:
#   wharf-azure  nginx + wharf serve, storage.azure on azurite, blob GETs
#                answered 307 to SAS URLs (the default)
#   wharf-s3     nginx + wharf serve, storage.s3 on Swift s3api, 307 to
#                presigned URLs
#   ref-s3       the reference registry (docker-registry 2.8.2), storage.s3 on
#                the same Swift (2.8.2 has no serviceurl: it cannot reach azurite)
# bench.py --only blobs,images: a BLOB_MB MiB blob pushed monolithic and
# chunked and pulled, a 5-layer image pushed and pulled with skopeo.
# Env: REPEAT (2), BLOB_MB (256), LAYER_MB (16), OUT (tests/bench/results/azure-<time>).
source "$(dirname "$0")/../e2e/lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
source "$REPO/tests/storage/azure_lib.sh"
e2e_init
REPEAT=${REPEAT:-2}
BLOB_MB=${BLOB_MB:-256}
LAYER_MB=${LAYER_MB:-16}
BENCH=$REPO/../shared/bench
[ -f "$BENCH/bench.py" ] || BENCH=/work/shared/bench
OUT=${OUT:-$REPO/tests/bench/results/azure-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$OUT")"

at_exit azure_stop
azure_start "$TMP/azurite" || { echo "azurite does not start" >&2; exit 1; }
at_exit swift_stop
swift_start "$TMP/swift" || { echo "swift does not start" >&2; exit 1; }
swift_bucket bench || exit 1
common="log:
  level: warn
  accesslog:
    disabled: true
fastcgi:
  workers: 8
  blobs:
    accel: none"
cat >"$TMP/azure.yml" <<EOF2
version: 0.1
storage:
  azure:
    accountname: $AZURE_ACCOUNT
    accountkey: $AZURE_KEY
    container: bench
    serviceurl: $AZURE_SERVICEURL
    rootdirectory: /wharf
$common
EOF2
cat >"$TMP/s3.yml" <<EOF2
version: 0.1
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: bench
    rootdirectory: /wharf
    secure: false
    v4auth: true
    chunksize: 10485760
$common
EOF2
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
node_start() {
	local n=$1 cfg=$2 d=$TMP/node$1 port
	mkdir -p "$d" && chmod 755 "$d"
	port=$(free_port) || return 1
	REGISTRY_FASTCGI_LISTEN="unix:$d/wharf.sock" REGISTRY_FASTCGI_PIDFILE="$d/wharf.pid" \
		REGISTRY_FASTCGI_UPLOADS_BODYDIR="$d/body" "$WHARF_BIN" serve -c "$cfg" >"$d/wharf.log" 2>&1 </dev/null &
	track_pid $!
	for _ in $(seq 100); do [ -S "$d/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$d" "127.0.0.1:$port" "$d/wharf.sock" "$d" "$d/body" || return 1
	nginx_start "$d" || return 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || return 1
	eval "N${n}_PORT=$port"
}
node_start 1 "$TMP/azure.yml" || exit 1
node_start 2 "$TMP/s3.yml" || exit 1
RP=$(free_port)
cat >"$TMP/ref.yml" <<EOF2
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: test:tester
    secretkey: testing
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: bench
    rootdirectory: /ref
    secure: false
    v4auth: true
    chunksize: 10485760
http:
  addr: 127.0.0.1:$RP
EOF2
env -u AWS_CA_BUNDLE docker-registry serve "$TMP/ref.yml" >"$TMP/ref.log" 2>&1 </dev/null &
REF_PID=$!
track_pid $REF_PID
wait_http "http://127.0.0.1:$RP/v2/" "$REF_PID" 20 || { tail "$TMP/ref.log" >&2; exit 1; }

export BENCH_TMP=$TMP BENCH_BLOB_MB=$BLOB_MB BENCH_IMAGE_LAYERS=5 BENCH_LAYER_MB=$LAYER_MB
python3 "$BENCH/bench.py" --only blobs,images --repeat "$REPEAT" --out "$OUT" \
	--title "Azure (azurite) and S3 (Swift s3api): Wharf, and the reference on S3" \
	--target ref-s3=http://127.0.0.1:$RP --target wharf-s3=http://127.0.0.1:$N2_PORT \
	--target wharf-azure=http://127.0.0.1:$N1_PORT
e2e_done
