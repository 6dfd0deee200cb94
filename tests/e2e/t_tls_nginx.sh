#!/usr/bin/env bash
# The nginx shape over TLS: nginx-conf/wharf-site.conf (HTTPS + HTTP/2, the
# HTTP->HTTPS redirect keeping /.well-known/acme-challenge/) in front of
# `wharf serve`, with a certificate of a test CA. The push/pull matrix
# (skopeo, podman, buildah, docker — each trusting only that CA), then a
# reload under load (SIGHUP of wharf serve and nginx -s reload while clients
# keep requesting: no request lost), then a drain (SIGTERM while a 512 MiB
# upload is in flight: it completes, 201, blob byte-identical).
source "$(dirname "$0")/apache_lib.sh"
e2e_init

if ! why=$(need_cmd nginx openssl skopeo podman buildah dockerd unshare jq curl); then
	t_skip "nginx TLS shape" "$why"
	exit 0
fi
tls_mkcert "$TMP/tls" || { t_fail "test certificates"; exit 1; }
CA=$TMP/tls/ca.crt

REGISTRY_HTTP_DRAINTIMEOUT=120s pool_start "$TMP/wharf" "$TMP/data" nginx ||
	{ t_fail "wharf serve starts"; exit 1; }
HP=$(free_port) && SP=$(free_port) || { t_fail "free ports"; exit 1; }
N=$TMP/nginx
nginx_site_render "$N" "$HP" "$SP" "$W_SOCK" "$W_ROOT" "$TMP/tls/server.crt" "$TMP/tls/server.key" \
	"$TMP/webroot" || { t_fail "render nginx-conf/wharf-site.conf"; exit 1; }
nginx_start "$N" || { t_fail "nginx accepts wharf-site.conf"; exit 1; }
R=127.0.0.1:$SP
U=https://$R
wait_https "$U/v2/" "$NGINX_PID" "$CA" || {
	t_fail "nginx TLS site answers" "$(tail -n 5 "$N/nginx-error.log")"
	exit 1
}
t_ok "nginx serves wharf-site.conf over TLS (certificate verified)"

# ---- the site itself ------------------------------------------------------------
v=$(curl -s -o /dev/null --cacert "$CA" --http2 -w '%{http_version}' "$U/v2/")
check_eq "HTTP/2 negotiated on the TLS site" 2 "$v"
# An upload over HTTP/2 (crane, oras and browsers speak it): the Location is
# built from :authority, the body streams, the digest is checked.
head -c 3000000 /dev/urandom >"$TMP/h2.bin"
h2d=sha256:$(sha256sum "$TMP/h2.bin" | cut -d' ' -f1)
h2loc=$(curl -s --http2 -D - -o /dev/null --cacert "$CA" -X POST "$U/v2/h2/up/blobs/uploads/" | tr -d '\r' |
	sed -n 's/^[Ll]ocation: //p')
check "HTTP/2: upload Location names the site ($h2loc)" test "${h2loc#$U/v2/h2/up/blobs/uploads/}" != "$h2loc"
c=$(curl -s --http2 -o /dev/null -w '%{http_version} %{http_code}' --cacert "$CA" -X PUT \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/h2.bin" "$h2loc?digest=$h2d")
check_eq "HTTP/2: 3 MB upload body streamed and verified (201)" "2 201" "$c"
hdr=$(curl -s -D - -o /dev/null --cacert "$CA" "$U/v2/" | tr -d '\r')
check "Strict-Transport-Security sent" grep -qi '^strict-transport-security: max-age=' <<<"$hdr"
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$HP/v2/e2e/x/tags/list?n=1")
check_eq "plain HTTP redirects to HTTPS (308, path and query kept)" \
	"308 https://127.0.0.1/v2/e2e/x/tags/list?n=1" "$loc"
mkdir -p "$TMP/webroot/.well-known/acme-challenge"
echo token-e2e >"$TMP/webroot/.well-known/acme-challenge/tok123"
chmod -R a+rX "$TMP/webroot"
b=$(curl -s "http://127.0.0.1:$HP/.well-known/acme-challenge/tok123")
check_eq "ACME challenge served over plain HTTP, not redirected" token-e2e "$b"
c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/.well-known/acme-challenge/nosuch")
check_eq "a missing challenge is 404 (not redirected, not Wharf)" 404 "$c"
if curl -s -o /dev/null "https://$R/v2/" 2>/dev/null; then
	t_fail "a client without the CA is refused (certificate verification)"
else
	t_ok "a client without the CA is refused (certificate verification)"
fi

# ---- the client matrix ------------------------------------------------------------
matrix_setup docker || t_fail "client matrix set-up" "$(tail -n 5 "$TMP"/*.log 2>/dev/null)"
DH=$E2E_V6NAME:$SP
if [ -n "${DOCKERD_PID:-}" ]; then
	docker_untrusted_fails nginx "$DH"
	docker_trust "$DH" "$CA"
fi
matrix_run nginx "$R" "$TMP/tls/certdir" "$DH"
# (skopeo, podman, buildah and docker offer only HTTP/1.1 in their TLS
# handshake; HTTP/2 is checked with curl above.)
n=$(grep -c '"PUT /v2/nginx/[a-z]*/manifests/v1 HTTP/[12.0]*" 201 ' "$N/nginx-access.log")
check_eq "four manifests pushed through the TLS site (access log)" 4 "$n"

# ---- reload under load --------------------------------------------------------------
# Clients keep requesting (small GETs, manifest GETs, blob GETs through
# X-Accel-Redirect, monolithic uploads) while wharf serve gets SIGHUP twice and
# nginx is reloaded twice; every request must succeed. Each request has its own
# HTTP/1.1 connection: a reload may close an idle keep-alive connection just as
# a client reuses it, and ends HTTP/2 connections with GOAWAY, whose streams
# above the last one processed the client must retry (HTTP allows both; curl
# 7.88 reports a GOAWAY'd stream as an error instead of retrying it). A request
# that reached nginx must never be lost.
mdig=$(cat "$TMP/src.digest")
ldig=$(jq -r '.layers[0].digest' "$TMP/src/blobs/sha256/${mdig#sha256:}")
mt=application/vnd.oci.image.manifest.v1+json
urls=$TMP/load-urls
: >"$urls"
for i in $(seq 1 60); do
	printf 'url = "%s/v2/"\noutput = /dev/null\n' "$U" >>"$urls"
	printf 'url = "%s/v2/nginx/skopeo/manifests/v1"\noutput = /dev/null\n' "$U" >>"$urls"
	printf 'url = "%s/v2/nginx/skopeo/blobs/%s"\noutput = /dev/null\n' "$U" "$ldig" >>"$urls"
done
load_loop() { # load_loop K: 180 requests per pass until $TMP/stop exists (at most 40 passes)
	local k=$1 pass=0
	while [ ! -e "$TMP/stop" ] && [ $pass -lt 40 ]; do
		curl -s --http1.1 --cacert "$CA" -H "Accept: $mt" -H 'Connection: close' -K "$urls" -w '%{http_code} %{errormsg}\n' >>"$TMP/load.$k" 2>>"$TMP/load.err"
		pass=$((pass + 1))
	done
}
up_loop() { # up_loop: monolithic uploads of distinct small blobs
	local i=0 f=$TMP/up.bin d
	while [ ! -e "$TMP/stop" ] && [ $i -lt 400 ]; do
		printf 'reload-%s-%s' "$i" "$RANDOM" >"$f"
		d=sha256:$(sha256sum "$f" | cut -d' ' -f1)
		curl -s --http1.1 -o /dev/null --cacert "$CA" -w '%{http_code} %{errormsg}\n' -X POST --data-binary @"$f" \
			-H 'Content-Type: application/octet-stream' \
			"$U/v2/nginx/reload/blobs/uploads/?digest=$d" >>"$TMP/load.up" 2>>"$TMP/load.err"
		i=$((i + 1))
	done
}
rm -f "$TMP/stop" "$TMP"/load.*
load_loop 1 &
lp1=$!
load_loop 2 &
lp2=$!
up_loop &
lp3=$!
w_before=$(wharf_children | tr '\n' ' ')
sleep 1
kill -HUP "$W_PID"
sleep 1
nginx -e "$N/nginx-error.log" -p "$N" -c "$N/nginx.conf" -s reload
sleep 1
kill -HUP "$W_PID"
sleep 1
kill -HUP "$NGINX_PID"
sleep 1.5
touch "$TMP/stop"
wait "$lp1" "$lp2" "$lp3"
w_after=$(wharf_children | tr '\n' ' ')
total=$(cat "$TMP/load.1" "$TMP/load.2" "$TMP/load.up" 2>/dev/null | wc -l)
good=$(cat "$TMP/load.1" "$TMP/load.2" 2>/dev/null | grep -c '^200 ')
ups=$(grep -c '^201 ' "$TMP/load.up" 2>/dev/null)
other=$(cat "$TMP/load.1" "$TMP/load.2" "$TMP/load.up" | grep -vE '^(200|201) ?$' | sort | uniq -c | tr '\n' ' ')
diag "reload under load: $total requests, $good GET/HEAD 200, $ups uploads 201, other: ${other:-none}"
check "reload under load: >300 requests made" test "$total" -gt 300
check_eq "reload under load: every request succeeded" "$total" "$((good + ups))"
check "reload under load: no client error" test ! -s "$TMP/load.err"
check "reload under load: wharf workers were replaced" test -n "$w_after" -a "$w_before" != "$w_after"
check "wharf logged the reloads" grep -qi 'reload' "$W_DIR/wharf.log"

# ---- drain: SIGTERM while a 512 MiB upload is in flight ------------------------------
# The drain is about requests a worker holds: uploads streamed through the
# workers (fastcgi.uploads.bodyfiles: false). With body files (above) nginx
# holds an upload until its body is complete and no worker is busy with it;
# a Wharf stopped meanwhile cannot answer it (nginx 502, the client retries).
kill -TERM "$W_PID"
for _ in $(seq 1 100); do kill -0 "$W_PID" 2>/dev/null || break; sleep 0.1; done
nginx_locations_render "$REPO/nginx-conf/wharf-locations.conf" "$N/wharf-locations.conf" "$W_ROOT" "" &&
	nginx -e "$N/nginx-error.log" -p "$N" -c "$N/nginx.conf" -s reload ||
	t_fail "nginx: uploads streamed (bodyfiles: false)"
export REGISTRY_FASTCGI_UPLOADS_BODYFILES=false
REGISTRY_HTTP_DRAINTIMEOUT=120s pool_start "$TMP/wharf" "$TMP/data" nginx ||
	{ t_fail "wharf serve (bodyfiles: false) starts"; exit 1; }
sleep 1 # nginx's new workers
big=$TMP/big.bin
head -c 512M /dev/urandom >"$big"
bd=sha256:$(sha256sum "$big" | cut -d' ' -f1)
loc=$(curl -s -D - -o /dev/null --cacert "$CA" -X POST "$U/v2/nginx/drain/blobs/uploads/" | tr -d '\r' |
	sed -n 's/^[Ll]ocation: //p')
case $loc in /*) loc=$U$loc ;; esac
sep='?'
case $loc in *\?*) sep='&' ;; esac
# ~8 s at 64 MB/s: the SIGTERM surely lands mid-body (-T streams the file
# from the start; --data-binary @ would first read all 512 MiB into memory,
# which on a loaded machine outlasts the sleep below: no request in flight)
curl -s -o "$TMP/drain.body" -w '%{http_code}' --cacert "$CA" --limit-rate 64M -X PUT \
	-H 'Content-Type: application/octet-stream' -T "$big" "$loc${sep}digest=$bd" \
	>"$TMP/drain.code" 2>"$TMP/drain.err" &
cp=$!
sleep 2.5
kill -TERM "$W_PID"
t0=$(date +%s)
stopped=0
for _ in $(seq 1 20); do [ -e "$W_SOCK" ] || { stopped=1; break; }; sleep 0.1; done
check "drain: the socket is closed at once on SIGTERM" test "$stopped" = 1
wait "$cp"
check_eq "drain: the 512 MiB upload in flight completes (201)" 201 "$(cat "$TMP/drain.code")"
for _ in $(seq 1 100); do kill -0 "$W_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$W_PID" 2>/dev/null; then
	t_fail "drain: wharf serve exits after the upload"
else
	wait "$W_PID"
	check_eq "drain: wharf serve exits 0 after the upload" 0 "$?"
fi
diag "drain took $(($(date +%s) - t0)) s after SIGTERM"
f=$(store_blob_path "$W_ROOT" "$bd")
check_eq "drain: the stored blob is byte-identical" "$bd" "sha256:$(sha256sum <"$f" 2>/dev/null | cut -d' ' -f1)"
rm -f "$big"
pool_log_clean

# ---- the drain has a limit: http.draintimeout -----------------------------------------------
mv "$W_DIR/wharf.log" "$W_DIR/wharf-1.log"
REGISTRY_HTTP_DRAINTIMEOUT=2s pool_start "$TMP/wharf" "$TMP/data" nginx || t_fail "wharf serve restarts"
head -c 64M /dev/zero >"$TMP/slow.bin"
loc=$(curl -s -D - -o /dev/null --cacert "$CA" -X POST "$U/v2/nginx/slow/blobs/uploads/" | tr -d '\r' |
	sed -n 's/^[Ll]ocation: //p')
case $loc in /*) loc=$U$loc ;; esac
# 64 MiB at 2 MB/s: would take half a minute
curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --limit-rate 2M -X PATCH \
	-H 'Content-Type: application/octet-stream' -T "$TMP/slow.bin" "$loc" \
	>"$TMP/slow.code" 2>/dev/null &
cp=$!
sleep 1
t0=$(date +%s%N)
kill -TERM "$W_PID"
for _ in $(seq 1 100); do kill -0 "$W_PID" 2>/dev/null || break; sleep 0.1; done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
diag "SIGTERM with a 30 s upload in flight and draintimeout 2s: exit after $ms ms"
check "draintimeout: wharf serve stops within 2-6 s although the upload is not done" \
	test "$ms" -ge 1800 -a "$ms" -lt 6000
check "draintimeout: the worker still busy is logged and killed" grep -q 'drain timeout' "$W_DIR/wharf.log"
wait "$cp"
check "draintimeout: the cut upload is not reported as a success" test "$(cat "$TMP/slow.code")" != 202

stop_pid "$NGINX_PID" 5
e2e_done
