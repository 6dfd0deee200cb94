#!/usr/bin/env bash
# Certificates from an ACME CA (pebble, on loopback) for both web servers,
# then pushes and pulls that trust only pebble's root:
#  (1) nginx-conf/wharf-site.conf + certbot --webroot: the site starts on a
#      placeholder certificate, certbot answers the http-01 challenge through
#      the site's /.well-known/acme-challenge/ (plain HTTP, not redirected),
#      nginx is reloaded onto the issued certificate; skopeo, podman and
#      docker (certs.d) push and pull.
#  (2) apache-conf/wharf-vhost.conf with mod_md: Apache orders the
#      certificate itself, a graceful restart activates it; skopeo and podman
#      push and pull.
source "$(dirname "$0")/apache_lib.sh"
e2e_init

if ! why=$(need_cmd pebble certbot nginx apache2 openssl skopeo podman buildah dockerd unshare jq curl); then
	t_skip "ACME certificates (pebble)" "$why"
	exit 0
fi
tls_mkcert "$TMP/tls" || { t_fail "placeholder certificate"; exit 1; }
HP=$(free_port) && SP=$(free_port) || { t_fail "free ports"; exit 1; }
pebble_start "$TMP/pebble" "$HP" || { t_fail "pebble starts"; exit 1; }
t_ok "pebble (local ACME CA) starts"
PCD=$TMP/pebble/certdir

# issuer_of HOST:PORT NAME: the issuer of the certificate the server presents.
issuer_of() {
	openssl s_client -connect "$1" -servername "$2" </dev/null 2>/dev/null |
		openssl x509 -noout -issuer 2>/dev/null
}

# ---- (1) nginx + certbot (webroot) ---------------------------------------------------
pool_start "$TMP/wharf" "$TMP/data" nginx || { t_fail "wharf serve starts"; exit 1; }
N=$TMP/nginx
nginx_site_render "$N" "$HP" "$SP" "$W_SOCK" "$W_ROOT" "$TMP/tls/server.crt" "$TMP/tls/server.key" \
	"$TMP/webroot" || { t_fail "render wharf-site.conf"; exit 1; }
chmod 755 "$TMP/webroot"
nginx_start "$N" || { t_fail "nginx starts on the placeholder certificate"; exit 1; }
wait_https "https://127.0.0.1:$SP/v2/" "$NGINX_PID" "$TMP/tls/ca.crt" || { t_fail "nginx answers"; exit 1; }
CB=$TMP/certbot
REQUESTS_CA_BUNDLE=$PEBBLE_CA certbot certonly --non-interactive --agree-tos -m hostmaster@example.org \
	--no-eff-email --server "$PEBBLE_DIRURL" --config-dir "$CB/etc" --work-dir "$CB/work" \
	--logs-dir "$CB/logs" --webroot -w "$TMP/webroot" -d localhost -d "$E2E_V6NAME" \
	--cert-name wharf-e2e >"$TMP/certbot.log" 2>&1
t_result "certbot --webroot obtains a certificate through the site's challenge path" $? \
	"$(tail -n 15 "$TMP/certbot.log")" "$(tail -n 5 "$TMP/pebble/pebble.log")"
live=$CB/etc/live/wharf-e2e
n=$(grep -c '"GET /.well-known/acme-challenge/[^ ]* HTTP/1.1" 200 ' "$N/nginx-access.log")
check "pebble fetched the challenges over plain HTTP (200, not redirected)" test "$n" -ge 2
if [ -s "$live/fullchain.pem" ]; then
	render_sub "$N/site.conf" "$TMP/tls/server.crt" "$live/fullchain.pem" \
		"$TMP/tls/server.key" "$live/privkey.pem"
	check "nginx -s reload onto the issued certificate" \
		nginx -e "$N/nginx-error.log" -p "$N" -c "$N/nginx.conf" -s reload
	iss=""
	for _ in $(seq 1 50); do
		iss=$(issuer_of "127.0.0.1:$SP" localhost)
		case $iss in *[Pp]ebble*) break ;; esac
		sleep 0.1
	done
	check "nginx presents the pebble-issued certificate ($iss)" grep -qi pebble <<<"$iss"
	matrix_setup docker || t_fail "client matrix set-up"
	[ -n "${DOCKERD_PID:-}" ] && docker_trust "$E2E_V6NAME:$SP" "$PEBBLE_ROOT"
	matrix_run acme-nginx "localhost:$SP" "$PCD" "$E2E_V6NAME:$SP"
else
	t_fail "certbot wrote $live/fullchain.pem"
fi
stop_pid "$NGINX_PID" 5
pool_log_clean
stop_pid "$W_PID" 10

# ---- (2) Apache + mod_md ---------------------------------------------------------------
pool_start "$TMP/wharf2" "$TMP/data2" apache || { t_fail "wharf serve (accel apache) starts"; exit 1; }
SP2=$(free_port) || { t_fail "free port"; exit 1; }
A=$TMP/apache
apache_render "$A"
apache_proxy_render "$A" "$W_SOCK" "$W_ROOT" && apache_vhost_render "$A" "$HP" "$SP2" localhost md ||
	{ t_fail "render wharf-vhost.conf (mod_md)"; exit 1; }
# The CA and the port mapping (pebble validates http-01 on $HP, which
# stands for the public port 80), as the vhost's comments describe.
cat >"$A/sites/01-acme-ca.conf" <<EOF
MDCertificateAuthority $PEBBLE_DIRURL
MDCACertificateFile $PEBBLE_CA
MDPortMap http:$HP https:$SP2
MDCAChallenges http-01
EOF
apache_start "$A" || { t_fail "Apache starts with mod_md"; exit 1; }
ordered=0
for _ in $(seq 1 300); do
	grep -q 'AH10059' "$A/error.log" 2>/dev/null && { ordered=1; break; }
	kill -0 "$APACHE_PID" 2>/dev/null || break
	sleep 0.1
done
t_result "mod_md obtains a certificate from pebble (AH10059)" $((1 - ordered)) \
	"$(grep -i 'md' "$A/error.log" | tail -n 10)" "$(tail -n 5 "$TMP/pebble/pebble.log")"
n=$(grep -c '"GET /.well-known/acme-challenge/[^ ]* HTTP/1.1" 200 ' "$A/access.log")
check "pebble fetched the challenge from Apache over plain HTTP" test "$n" -ge 1
kill -USR1 "$APACHE_PID"
iss=""
for _ in $(seq 1 100); do
	iss=$(issuer_of "127.0.0.1:$SP2" localhost)
	case $iss in *[Pp]ebble*) break ;; esac
	sleep 0.1
done
check "after a graceful restart Apache presents the pebble-issued certificate ($iss)" grep -qi pebble <<<"$iss"
matrix_run acme-apache "localhost:$SP2" "$PCD"
stop_pid "$APACHE_PID" 5
pool_log_clean
e2e_done
