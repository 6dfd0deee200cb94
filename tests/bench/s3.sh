#!/usr/bin/env bash
# tests/bench/s3.sh — S3 storage timings (issue 7), results for
# tests/bench/RESULTS-s3.md. Everything on this machine, on loopback: an
# OpenStack Swift all-in-one with s3api (tests/storage/swift_lib.sh), one
# redis-server, and:
#   wharf        node 1: nginx + wharf serve, storage.s3 on the bucket, blob
#                GETs answered 307 to presigned URLs (the default)
#   wharf-stream node 2: the same config.yml with storage.redirect.disable
#                (REGISTRY_STORAGE_REDIRECT_DISABLE=true): the worker streams
#   ref          the reference registry (docker-registry 2.8.2) with
#                storage.s3 on the same endpoint and bucket (its own
#                rootdirectory), redirects on (its default)
#   lb           an nginx balancing over both nodes (round robin)
# Phase 1 (bench.py --only blobs,images): a BENCH_BLOB_MB (512) MiB blob
# pushed monolithic and chunked and pulled (redirect followed), and a
# 5-layer image pushed and pulled with skopeo, side by side on the three
# targets. Phase 2: BENCH_PUSH_CONC (8) concurrent skopeo pushes, one node
# (node 1 directly) against two nodes (through the balancer).
# Env: REPEAT (2), BLOB_MB (512), LAYER_MB (32), OUT (tests/bench/results/s3-<time>).
source "$(dirname "$0")/../e2e/lib.sh"
source "$REPO/tests/storage/swift_lib.sh"
e2e_init
REPEAT=${REPEAT:-2}
BLOB_MB=${BLOB_MB:-512}
LAYER_MB=${LAYER_MB:-32}
BENCH=$REPO/../shared/bench
[ -f "$BENCH/bench.py" ] || BENCH=/work/shared/bench
OUT=${OUT:-$REPO/tests/bench/results/s3-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$OUT")"

at_exit swift_stop
swift_start "$TMP/swift" || { echo "swift does not start" >&2; exit 1; }
swift_bucket bench || exit 1
RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
	>"$TMP/redis.log" 2>&1 </dev/null &
track_pid $!
CFG=$TMP/config.yml
cat >"$CFG" <<EOF2
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: bench
    rootdirectory: /wharf
    secure: false
    v4auth: true
    chunksize: 10485760
  cache:
    blobdescriptor: redis
redis:
  addr: 127.0.0.1:$RPORT
fastcgi:
  workers: 8
  blobs:
    accel: none
EOF2
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
node_start() {
	local n=$1 d=$TMP/node$1 port
	shift
	mkdir -p "$d" && chmod 755 "$d"
	port=$(free_port) || return 1
	env "$@" REGISTRY_FASTCGI_LISTEN="unix:$d/wharf.sock" REGISTRY_FASTCGI_PIDFILE="$d/wharf.pid" \
		REGISTRY_FASTCGI_UPLOADS_BODYDIR="$d/wharf/body" \
		"$WHARF_BIN" serve -c "$CFG" >"$d/wharf.log" 2>&1 </dev/null &
	track_pid $!
	for _ in $(seq 100); do [ -S "$d/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$d" "127.0.0.1:$port" "$d/wharf.sock" "$d" || return 1
	nginx_start "$d" || return 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || return 1
	eval "N${n}_PORT=$port"
}
node_start 1 || exit 1
node_start 2 REGISTRY_STORAGE_REDIRECT_DISABLE=true || exit 1
LB=$TMP/lb
mkdir -p "$LB/tmp"
LBP=$(free_port)
cat >"$LB/nginx.conf" <<EOF2
daemon off;
worker_processes 2;
pid $LB/nginx.pid;
error_log $LB/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $LB/tmp/body;
    proxy_temp_path $LB/tmp/proxy;
    fastcgi_temp_path $LB/tmp/fcgi;
    uwsgi_temp_path $LB/tmp/uwsgi;
    scgi_temp_path $LB/tmp/scgi;
    upstream nodes {
        server 127.0.0.1:$N1_PORT;
        server 127.0.0.1:$N2_PORT;
    }
    server {
        listen 127.0.0.1:$LBP;
        client_max_body_size 0;
        location / {
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_next_upstream error timeout non_idempotent;
        }
    }
}
EOF2
nginx_start "$LB" || exit 1
wait_http "http://127.0.0.1:$LBP/v2/" "$NGINX_PID" 20 || exit 1

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
echo "# phase 1: $BLOB_MB MiB blob and 5 x $LAYER_MB MB image, repeat $REPEAT" >&2
python3 "$BENCH/bench.py" --only blobs,images --repeat "$REPEAT" --out "$OUT-sides" \
	--title "S3 (Swift s3api): Wharf vs the reference" \
	--target ref=http://127.0.0.1:$RP --target wharf=http://127.0.0.1:$N1_PORT \
	--target wharf-stream=http://127.0.0.1:$N2_PORT
echo "# phase 2: 8 concurrent pushes, one node vs two" >&2
BENCH_IMAGE_LAYERS=1 BENCH_LAYER_MB=8 BENCH_PUSH_CONC=8 \
	python3 "$BENCH/bench.py" --only images --repeat "$REPEAT" --out "$OUT-nodes" \
	--title "S3 (Swift s3api): 8 concurrent pushes, one node vs two" \
	--target one-node=http://127.0.0.1:$N1_PORT --target two-nodes=http://127.0.0.1:$LBP
e2e_done
