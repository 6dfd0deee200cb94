#!/usr/bin/env bash
# Storage middleware `redirect` (issue 7) end to end: Wharf on the filesystem
# with middleware.storage [{name: redirect, options: {baseurl}}] answers blob
# GETs 307 to <baseurl><storage path>; a plain nginx serving the storage root
# plays the CDN; skopeo pulls through the redirect. (cloudfront signatures are
# checked in tests/unit/test_middleware.c: no CloudFront here.)
source "$(dirname "$0")/lib.sh"
e2e_init
if ! why=$(need_cmd skopeo nginx curl jq); then
	t_skip "storage middleware redirect" "$why"
	exit 0
fi
D=$TMP/w
ROOT=$TMP/root
CDN=$TMP/cdn
mkdir -p "$D" "$ROOT" "$CDN/tmp" && chmod 755 "$D" "$ROOT"
CP=$(free_port)
cat >"$CDN/nginx.conf" <<EOF2
daemon off;
worker_processes 1;
pid $CDN/nginx.pid;
error_log $CDN/nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log $CDN/access.log;
    client_body_temp_path $CDN/tmp/body;
    proxy_temp_path $CDN/tmp/proxy;
    fastcgi_temp_path $CDN/tmp/fcgi;
    uwsgi_temp_path $CDN/tmp/uwsgi;
    scgi_temp_path $CDN/tmp/scgi;
    server {
        listen 127.0.0.1:$CP;
        location /cdn/ { alias $ROOT/; }
    }
}
EOF2
nginx_start "$CDN" || { t_fail "the cdn nginx starts"; exit 1; }
cat >"$D/config.yml" <<EOF2
version: 0.1
storage:
  filesystem:
    rootdirectory: $ROOT
middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://127.0.0.1:$CP/cdn/
fastcgi:
  listen: unix:$D/wharf.sock
  workers: 2
  blobs:
    accel: nginx
  pidfile: $D/wharf.pid
EOF2
"$WHARF_BIN" serve -c "$D/config.yml" >"$D/wharf.log" 2>&1 </dev/null &
WP=$!
track_pid $WP
for _ in $(seq 100); do [ -S "$D/wharf.sock" ] && break; sleep 0.1; done
PORT=$(free_port)
nginx_render "$D" "127.0.0.1:$PORT" "$D/wharf.sock" "$ROOT" && nginx_start "$D" &&
	wait_http "http://127.0.0.1:$PORT/v2/" "$NGINX_PID" 20 || {
	t_fail "wharf with middleware.storage redirect starts" "$(tail -n 5 "$D/wharf.log")"
	exit 1
}
R=127.0.0.1:$PORT
mkimage "$TMP/img" --tag v1 --layers 2 --size 300000 --seed mw >/dev/null
check "push an image" skopeo_copy oci:"$TMP/img":v1 docker://$R/mw/img:v1 --preserve-digests
layer=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/mw/img/manifests/v1" |
	jq -r '.layers[0].digest')
h=$(curl -s -o /dev/null -D - "http://$R/v2/mw/img/blobs/$layer" | tr -d '\r')
check_eq "blob GET answers 307" 307 "$(echo "$h" | awk 'NR==1{print $2}')"
hex=${layer#sha256:}
check_eq "Location is baseurl + the storage path" \
	"http://127.0.0.1:$CP/cdn/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" \
	"$(echo "$h" | awk -F': ' 'tolower($1)=="location"{print $2}')"
check_eq "blob HEAD is still Wharf's (200)" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/mw/img/blobs/$layer")"
check "skopeo pulls through the redirect" \
	skopeo_copy docker://$R/mw/img:v1 oci:"$TMP/back":v1 --preserve-digests
check "byte-identical" blobs_same "$TMP/img" "$TMP/back"
check "the layers came from the cdn" grep -q "GET /cdn/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data HTTP/1.1\" 200" "$CDN/access.log"
stop_pid "$NGINX_PID" 5
stop_pid "$WP" 10
e2e_done
