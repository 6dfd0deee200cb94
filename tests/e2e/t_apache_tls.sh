#!/usr/bin/env bash
# The Apache shape over TLS: apache-conf/wharf-vhost.conf + wharf-proxy.conf
# (mod_ssl, HTTP/2, mod_proxy_fcgi streaming, mod_xsendfile for blobs) in
# front of `wharf serve` (fastcgi.blobs.accel: apache), with a certificate of
# a test CA. The push/pull matrix (skopeo, podman, buildah, docker — each
# trusting only that CA), the headers and ranges of blobs sent by
# X-Sendfile, and credentials reaching Wharf after a SIGHUP that turns on
# htpasswd auth.
source "$(dirname "$0")/apache_lib.sh"
e2e_init

if ! why=$(need_cmd apache2 openssl skopeo podman buildah dockerd unshare jq curl); then
	t_skip "Apache TLS shape" "$why"
	exit 0
fi
for m in proxy_fcgi xsendfile http2 ssl md; do
	[ -e "/usr/lib/apache2/modules/mod_$m.so" ] || { t_skip "Apache TLS shape" "no mod_$m"; exit 0; }
done
tls_mkcert "$TMP/tls" || { t_fail "test certificates"; exit 1; }
CA=$TMP/tls/ca.crt

pool_start "$TMP/wharf" "$TMP/data" apache || { t_fail "wharf serve starts"; exit 1; }
HP=$(free_port) && SP=$(free_port) || { t_fail "free ports"; exit 1; }
A=$TMP/apache
apache_render "$A"
apache_proxy_render "$A" "$W_SOCK" "$W_ROOT" &&
	apache_vhost_render "$A" "$HP" "$SP" localhost files "$TMP/tls/server.crt" "$TMP/tls/server.key" ||
	{ t_fail "render apache-conf/wharf-vhost.conf"; exit 1; }
apache_start "$A" || { t_fail "Apache accepts wharf-vhost.conf"; exit 1; }
R=127.0.0.1:$SP
U=https://$R
wait_https "$U/v2/" "$APACHE_PID" "$CA" || {
	t_fail "Apache TLS site answers" "$(tail -n 5 "$A/error.log")"
	exit 1
}
t_ok "Apache serves wharf-vhost.conf over TLS (certificate verified)"

# ---- the site ------------------------------------------------------------------------
v=$(curl -s -o /dev/null --cacert "$CA" --http2 -w '%{http_version}' "$U/v2/")
check_eq "HTTP/2 negotiated on the TLS site" 2 "$v"
check_eq "/_wharf/api/repositories reaches Wharf through wharf-proxy.conf (the vhost lets it by)" array \
	"$(curl -s --cacert "$CA" "$U/_wharf/api/repositories" | jq -r '.repositories | type' 2>/dev/null)"
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
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$HP/v2/e2e/x/tags/list?n=1")
check_eq "plain HTTP redirects to HTTPS (308, path and query kept)" \
	"308 https://localhost:$SP/v2/e2e/x/tags/list?n=1" "$loc"
echo token-e2e >"$A/webroot/.well-known/acme-challenge/tok123"
chmod 644 "$A/webroot/.well-known/acme-challenge/tok123"
b=$(curl -s "http://127.0.0.1:$HP/.well-known/acme-challenge/tok123")
check_eq "certbot webroot challenge served over plain HTTP, not redirected" token-e2e "$b"
c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/.well-known/acme-challenge/nosuch")
check_eq "a missing challenge is 404, not redirected" 404 "$c"
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$U/")
check_eq "the web UI at /" 200 "$c"
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$U/other/page")
check_eq "nothing but the registry and its UI on the site" 403 "$c"
c=$(curl -s --cacert "$CA" "$U/v2/a%2Fb/tags/list" | jq -r '.errors[0].code' 2>/dev/null)
check "an encoded slash reaches Wharf (its JSON error, not Apache's page)" test -n "$c" -a "$c" != null

# ---- the client matrix -------------------------------------------------------------------
matrix_setup docker || t_fail "client matrix set-up"
DH=$E2E_V6NAME:$SP
if [ -n "${DOCKERD_PID:-}" ]; then
	docker_untrusted_fails apache "$DH"
	docker_trust "$DH" "$CA"
fi
matrix_run apache "$R" "$TMP/tls/certdir" "$DH"
n=$(grep -cE '"PATCH /v2/apache/[a-z]+/blobs/uploads/[^"]*" 202 .*te="chunked"' "$A/access.log")
check "chunked PATCH bodies (buildah, docker) streamed through mod_proxy_fcgi" test "$n" -ge 2

# ---- blobs through X-Sendfile ------------------------------------------------------------
mdig=$(cat "$TMP/src.digest")
ldig=$(jq -r '.layers[0].digest' "$TMP/src/blobs/sha256/${mdig#sha256:}")
lfile=$TMP/src/blobs/sha256/${ldig#sha256:}
size=$(stat -c %s "$lfile")
curl -s --cacert "$CA" -D "$TMP/blob.h" -o "$TMP/blob.body" "$U/v2/apache/skopeo/blobs/$ldig"
tr -d '\r' <"$TMP/blob.h" >"$TMP/blob.hdr"
check "blob GET: the file, byte-identical" cmp "$lfile" "$TMP/blob.body"
check "blob GET: Docker-Content-Digest kept" grep -qi "^docker-content-digest: $ldig" "$TMP/blob.hdr"
check "blob GET: no X-Sendfile header leaks to the client" test -z "$(grep -i '^x-sendfile' "$TMP/blob.hdr")"
h=$(curl -s -I --cacert "$CA" "$U/v2/apache/skopeo/blobs/$ldig" | tr -d '\r')
check_eq "blob HEAD: Content-Length is the blob size" "$size" \
	"$(sed -n 's/^[Cc]ontent-[Ll]ength: //p' <<<"$h")"
r=$(curl -s --cacert "$CA" -r 100-199 -w ' %{http_code}' "$U/v2/apache/skopeo/blobs/$ldig" -o "$TMP/range.body")
check_eq "blob Range: 206" " 206" "$r"
check "blob Range: the right bytes" cmp "$TMP/range.body" <(tail -c +101 "$lfile" | head -c 100)
r=$(curl -s --cacert "$CA" -r "$((size + 10))-" -o /dev/null -w '%{http_code}' "$U/v2/apache/skopeo/blobs/$ldig")
check_eq "blob Range beyond the end: 416" 416 "$r"
h=$(curl -s -I --cacert "$CA" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"$U/v2/apache/skopeo/manifests/v1" | tr -d '\r')
check_eq "manifest HEAD: Content-Length kept (ap_trust_cgilike_cl)" \
	"$(stat -c %s "$TMP/src/blobs/sha256/${mdig#sha256:}")" "$(sed -n 's/^[Cc]ontent-[Ll]ength: //p' <<<"$h")"

# ---- credentials reach Wharf (CGIPassAuth), after a SIGHUP enabling auth -------------
"$PYTHON" -W ignore -c 'import crypt,sys; print("e2e:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
	>"$TMP/htpasswd" 2>/dev/null
chmod 644 "$TMP/htpasswd"
printf 'auth:\n  htpasswd:\n    realm: wharf-e2e\n    path: %s\n' "$TMP/htpasswd" >>"$W_DIR/config.yml"
kill -HUP "$W_PID"
authon() { [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$U/v2/")" = 401 ]; }
for _ in $(seq 1 50); do authon && break; sleep 0.1; done
check "after SIGHUP with htpasswd auth, anonymous /v2/ is 401" authon
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -u e2e:s3cret "$U/v2/")
check_eq "Basic credentials pass through Apache to Wharf (200)" 200 "$c"
check "skopeo push with credentials" "${SKOPEO[@]}" copy -q --dest-cert-dir "$TMP/tls/certdir" \
	--dest-creds e2e:s3cret oci:"$TMP/src":v1 "docker://$R/apache/auth:v1"

stop_pid "$APACHE_PID" 5
pool_log_clean
stop_pid "$W_PID" 10
e2e_done
