#!/usr/bin/env bash
# The shared-hosting shape: Wharf as a plain CGI program behind Apache over
# TLS — no long-running Wharf process at all. (1) apache-conf/htaccess in a
# document root of a hoster-style TLS vhost (AllowOverride All, mod_rewrite,
# mod_cgid), blobs streamed by the CGI (accel: none): the push/pull matrix
# (skopeo, podman, buildah, docker — each trusting only the test CA), a
# chunked upload whose PATCHes are separate processes, Basic credentials.
# (2) apache-conf/wharf-cgi.conf (ScriptAlias, blobs by X-Sendfile) in a
# second vhost on the same storage: skopeo push and pull.
source "$(dirname "$0")/apache_lib.sh"
e2e_init

if ! why=$(need_cmd apache2 openssl skopeo podman buildah dockerd unshare jq curl); then
	t_skip "Apache CGI shape" "$why"
	exit 0
fi
for m in cgid rewrite ssl xsendfile; do
	[ -e "/usr/lib/apache2/modules/mod_$m.so" ] || { t_skip "Apache CGI shape" "no mod_$m"; exit 0; }
done
[ -x "$WHARF_BIN" ] || { t_fail "wharf binary at $WHARF_BIN"; exit 1; }
tls_mkcert "$TMP/tls" || { t_fail "test certificates"; exit 1; }
CA=$TMP/tls/ca.crt

# The user's files: the binary in the web root, config and data outside it.
# The CGI runs as Apache's user (suexec would make it the site owner).
PUB=$TMP/home/public_html
WH=$TMP/home/wharf
mkdir -p "$PUB" "$WH/data" "$TMP/cgi-lib"
cp "$WHARF_BIN" "$PUB/wharf.cgi"
cp "$WHARF_BIN" "$TMP/cgi-lib/wharf"
chmod 755 "$TMP/home" "$PUB" "$WH" "$PUB/wharf.cgi" "$TMP/cgi-lib" "$TMP/cgi-lib/wharf"
secret=e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
conf() { # conf FILE ACCEL [extra yaml]
	cat >"$1" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $WH/data
  delete:
    enabled: true
http:
  secret: $secret
fastcgi:
  blobs:
    accel: $2
${3:-}
EOF
	chmod 644 "$1"
}
conf "$WH/config.yml" none
conf "$WH/config-xsendfile.yml" apache
chown -R "$APACHE_USER:$APACHE_GROUP" "$WH/data"
cp "$REPO/apache-conf/htaccess" "$PUB/.htaccess"
render_sub "$PUB/.htaccess" "SetEnv WHARF_CONFIG /home/USER/wharf/config.yml" \
	"SetEnv WHARF_CONFIG $WH/config.yml" || { t_fail "render apache-conf/htaccess"; exit 1; }
chmod 644 "$PUB/.htaccess"

SP=$(free_port) && SP2=$(free_port) || { t_fail "free ports"; exit 1; }
A=$TMP/apache
apache_render "$A"
# The hoster's part: a TLS vhost whose document root allows .htaccess.
cat >"$A/sites/hosting.conf" <<EOF
Listen 127.0.0.1:$SP
Listen [::1]:$SP
<VirtualHost *:$SP>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile $TMP/tls/server.crt
    SSLCertificateKeyFile $TMP/tls/server.key
    Protocols h2 http/1.1
    DocumentRoot $PUB
    <Directory $TMP/home>
        Require all granted
    </Directory>
    <Directory $PUB>
        AllowOverride All
        Require all granted
    </Directory>
</VirtualHost>
EOF
# The server admin's form: ScriptAlias (wharf-cgi.conf) in another vhost.
cp "$REPO/apache-conf/wharf-cgi.conf" "$A/wharf-cgi.conf"
render_sub "$A/wharf-cgi.conf" "/usr/local/lib/wharf" "$TMP/cgi-lib" \
	"SetEnv WHARF_CONFIG /etc/wharf/config.yml" "SetEnv WHARF_CONFIG $WH/config-xsendfile.yml" \
	"XSendFilePath /var/lib/registry" "XSendFilePath $WH/data" || { t_fail "render apache-conf/wharf-cgi.conf"; exit 1; }
cat >"$A/sites/scriptalias.conf" <<EOF
Listen 127.0.0.1:$SP2
<VirtualHost *:$SP2>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile $TMP/tls/server.crt
    SSLCertificateKeyFile $TMP/tls/server.key
    Include $A/wharf-cgi.conf
</VirtualHost>
EOF
apache_start "$A" || { t_fail "Apache accepts the CGI configuration"; exit 1; }
R=127.0.0.1:$SP
U=https://$R
wait_https "$U/v2/" "$APACHE_PID" "$CA" || {
	t_fail "CGI site answers" "$(tail -n 5 "$A/error.log")"
	exit 1
}
t_ok "Apache runs wharf.cgi through .htaccess over TLS"
h=$(curl -s -D - -o /dev/null --cacert "$CA" "$U/v2/" | tr -d '\r')
check "CGI: /v2/ has the API version header" grep -qi '^docker-distribution-api-version: registry/2.0' <<<"$h"
# (a CGI process may still be exiting when its answer has arrived — under
# ASan, LeakSanitizer's exit check takes a moment: allow 5 s for it to go)
cgi_gone() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ -z "$(pgrep -f "$PUB/wharf.cgi")" ] && return 0
		sleep 0.1
	done
	pgrep -af "$PUB/wharf.cgi"
	return 1
}
check "no Wharf process runs between requests" cgi_gone

# ---- the client matrix ------------------------------------------------------------------
matrix_setup docker || t_fail "client matrix set-up"
DH=$E2E_V6NAME:$SP
[ -n "${DOCKERD_PID:-}" ] && docker_trust "$DH" "$CA"
matrix_run cgi "$R" "$TMP/tls/certdir" "$DH"

# ---- an upload in pieces: every request is another process ----------------------------
head -c 3000000 /dev/urandom >"$TMP/chunky.bin"
d=sha256:$(sha256sum "$TMP/chunky.bin" | cut -d' ' -f1)
loc=$(curl -s -D - -o /dev/null --cacert "$CA" -X POST "$U/v2/cgi/chunky/blobs/uploads/" | tr -d '\r' |
	sed -n 's/^[Ll]ocation: //p')
case $loc in /*) loc=$U$loc ;; esac
okp=1
for i in 0 1 2; do
	s=$((i * 1000000))
	code=$(tail -c +$((s + 1)) "$TMP/chunky.bin" | head -c 1000000 |
		curl -s -D "$TMP/patch.h" -o /dev/null -w '%{http_code}' --cacert "$CA" -X PATCH \
			-H 'Content-Type: application/octet-stream' -H "Content-Range: $s-$((s + 999999))" \
			--data-binary @- "$loc")
	[ "$code" = 202 ] || okp=0
	nl=$(tr -d '\r' <"$TMP/patch.h" | sed -n 's/^[Ll]ocation: //p')
	case $nl in /*) loc=$U$nl ;; ?*) loc=$nl ;; esac
done
check "CGI: three PATCHes, each its own process, accepted (202)" test "$okp" = 1
sep='?'
case $loc in *\?*) sep='&' ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -X PUT "$loc${sep}digest=$d")
check_eq "CGI: the closing PUT verifies the digest over all pieces (201)" 201 "$code"
curl -s --cacert "$CA" -o "$TMP/chunky.back" "$U/v2/cgi/chunky/blobs/$d"
check "CGI: the blob streamed back by the CGI is byte-identical" cmp "$TMP/chunky.bin" "$TMP/chunky.back"
h=$(curl -s -I --cacert "$CA" "$U/v2/cgi/chunky/blobs/$d" | tr -d '\r')
check_eq "CGI: blob HEAD has its Content-Length" 3000000 "$(sed -n 's/^[Cc]ontent-[Ll]ength: //p' <<<"$h")"
r=$(curl -s --cacert "$CA" -r 10-19 -o "$TMP/r.body" -w '%{http_code}' "$U/v2/cgi/chunky/blobs/$d")
check_eq "CGI: blob Range 206" 206 "$r"
check "CGI: the right range" cmp "$TMP/r.body" <(tail -c +11 "$TMP/chunky.bin" | head -c 10)

# ---- ScriptAlias form, blobs by X-Sendfile, same storage --------------------------------
R2=127.0.0.1:$SP2
check "ScriptAlias: skopeo push over TLS" "${SKOPEO[@]}" copy -q --dest-cert-dir "$TMP/tls/certdir" \
	--preserve-digests oci:"$TMP/src":v1 "docker://$R2/cgi/scriptalias:v1"
check "ScriptAlias: skopeo pull over TLS" "${SKOPEO[@]}" copy -q --src-cert-dir "$TMP/tls/certdir" \
	--preserve-digests "docker://$R2/cgi/scriptalias:v1" oci:"$TMP/sa":v1
check "ScriptAlias: round trip byte-identical" blobs_same "$TMP/src" "$TMP/sa"
curl -s --cacert "$CA" -D "$TMP/xs.h" -o "$TMP/xs.body" "https://$R2/v2/cgi/chunky/blobs/$d"
check "ScriptAlias: blob sent by X-Sendfile is byte-identical" cmp "$TMP/chunky.bin" "$TMP/xs.body"
check "ScriptAlias: no X-Sendfile header leaks" test -z "$(grep -i '^x-sendfile' "$TMP/xs.h")"
check "ScriptAlias: the .htaccess site sees the same repositories" \
	"${SKOPEO[@]}" inspect --cert-dir "$TMP/tls/certdir" --raw "docker://$R/cgi/scriptalias:v1"

# ---- the web UI's JSON API (issue 17) through both forms ---------------------------------
isjson() { jq -r 'if (.repositories | type) == "array" then "ok" else "no" end' 2>/dev/null; }
check_eq "CGI (.htaccess): /_wharf/api/repositories answers its JSON" ok \
	"$(curl -s --cacert "$CA" "$U/_wharf/api/repositories" | isjson)"
check_eq "CGI (ScriptAlias): /_wharf/api/search answers its JSON" ok \
	"$(curl -s --cacert "$CA" "https://$R2/_wharf/api/search?q=cgi" | isjson)"

# ---- credentials reach the CGI (CGIPassAuth in .htaccess) -------------------------------
"$PYTHON" -W ignore -c 'import crypt; print("e2e:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
	>"$WH/htpasswd" 2>/dev/null
chmod 644 "$WH/htpasswd"
conf "$WH/config.yml" none "$(printf 'auth:\n  htpasswd:\n    realm: wharf-e2e\n    path: %s' "$WH/htpasswd")"
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$U/v2/")
check_eq "CGI with htpasswd auth: anonymous /v2/ is 401 (config read per request)" 401 "$c"
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -u e2e:s3cret "$U/v2/")
check_eq "CGI: Basic credentials pass through .htaccess (200)" 200 "$c"
check "CGI: skopeo push with credentials" "${SKOPEO[@]}" copy -q --dest-cert-dir "$TMP/tls/certdir" \
	--dest-creds e2e:s3cret oci:"$TMP/src":v1 "docker://$R/cgi/auth:v1"

if grep -qE 'AddressSanitizer|runtime error:|Segmentation|core dumped' "$A/error.log"; then
	t_fail "no CGI crash in Apache's error log" "$(grep -E 'Sanitizer|runtime error|Segmentation|core dumped' "$A/error.log" | head)"
else
	t_ok "no CGI crash in Apache's error log"
fi
stop_pid "$APACHE_PID" 5
e2e_done
