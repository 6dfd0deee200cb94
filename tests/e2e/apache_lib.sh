# apache_lib.sh — helpers for the deployment-shape tests (t_tls_*, t_apache_*,
# t_cgi_*, t_acme_*): test certificates, the nginx TLS site and the Apache
# configurations rendered from nginx-conf/ and apache-conf/ (the files users
# copy, with only ports, names and paths replaced), pebble (a local ACME CA),
# a dockerd that verifies TLS, and the push/pull client matrix.
# shellcheck shell=bash
#
# Usage: source "$(dirname "$0")/apache_lib.sh" (it sources lib.sh), e2e_init.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A name that resolves, for the test's dockerd only, to ::1: docker treats
# every registry on 127.0.0.0/8 as insecure (it then skips certificate
# verification and never reads certs.d), so docker is pointed at this name
# to prove that it trusts the test's certificate.
E2E_V6NAME=wharf-e2e.test

# render_sub FILE FROM TO...: replace each literal FROM by TO in FILE (in
# place); a FROM that is absent is an error — the shipped example changed
# and the test no longer runs what users copy.
render_sub() {
	local f=$1
	shift
	while [ $# -ge 2 ]; do
		grep -qF -- "$1" "$f" || { diag "render: '$1' not found in $f"; return 1; }
		FROM=$1 TO=$2 "$PYTHON" -c '
import os, sys
p = sys.argv[1]
s = open(p).read().replace(os.environ["FROM"], os.environ["TO"])
open(p, "w").write(s)' "$f" || return 1
		shift 2
	done
}

# ---- certificates -------------------------------------------------------------

# tls_mkcert DIR: a test CA (DIR/ca.crt) and a server certificate signed by it
# (DIR/server.crt, DIR/server.key) for 127.0.0.1, ::1, localhost and
# $E2E_V6NAME; DIR/certdir/ca.crt is what clients get as --cert-dir.
tls_mkcert() {
	local d=$1
	mkdir -p "$d/certdir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Wharf e2e CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign >"$d/openssl.log" 2>&1 || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/server.key" \
		-out "$d/server.csr" >>"$d/openssl.log" 2>&1 || return 1
	printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:%s\nextendedKeyUsage=serverAuth\n' \
		"$E2E_V6NAME" >"$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext.cnf" -out "$d/server.crt" >>"$d/openssl.log" 2>&1 || return 1
	cp "$d/ca.crt" "$d/certdir/ca.crt"
	chmod 644 "$d"/*.crt "$d"/*.key
}

# ---- wharf serve alone ----------------------------------------------------------

# pool_start DIR ROOT ACCEL: `wharf serve` (no web server) with lib.sh's
# config, blobs handed over with ACCEL (nginx|apache|none). Sets W_DIR,
# W_ROOT, W_SOCK, W_PID. Extra environment (REGISTRY_*) is inherited.
pool_start() {
	W_DIR=$1
	W_ROOT=$2
	W_SOCK=$W_DIR/wharf.sock
	mkdir -p "$W_DIR" "$W_ROOT"
	chmod 755 "$W_DIR" "$W_ROOT"
	[ -x "$WHARF_BIN" ] || { diag "no wharf binary at $WHARF_BIN"; return 1; }
	WHARF_E2E_ACCEL=$3 wharf_config "$W_DIR/config.yml" "$W_ROOT" "$W_SOCK" "$W_DIR"
	ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
		"$WHARF_BIN" serve -c "$W_DIR/config.yml" >>"$W_DIR/wharf.log" 2>&1 </dev/null &
	W_PID=$!
	track_pid "$W_PID"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$W_SOCK" ] && return 0
		kill -0 "$W_PID" 2>/dev/null || break
		sleep 0.1
	done
	diag "wharf serve did not create $W_SOCK:" "$(tail -n 20 "$W_DIR/wharf.log")"
	return 1
}

# ---- nginx: the complete TLS site (nginx-conf/wharf-site.conf) -----------------

# nginx_site_render DIR HTTP_PORT HTTPS_PORT SOCK ROOT CERT KEY WEBROOT: DIR/nginx.conf,
# a minimal main configuration including DIR/site.conf, rendered from
# wharf-site.conf (listening on 127.0.0.1 and ::1), and DIR/wharf-locations.conf.
nginx_site_render() {
	local dir=$1 hp=$2 sp=$3 sock=$4 root=$5 cert=$6 key=$7 webroot=$8
	mkdir -p "$dir/tmp" "$webroot"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format wharf '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                     'te="\$http_transfer_encoding" cl="\$content_length" host="\$http_host" rt=\$request_time';
    access_log $dir/nginx-access.log wharf;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    server_tokens off;
    include $dir/site.conf;
}
EOF
	cp "$REPO/nginx-conf/wharf-site.conf" "$dir/site.conf"
	render_sub "$dir/site.conf" \
		"listen 80;" "listen 127.0.0.1:$hp;" \
		"listen [::]:80;" "listen [::1]:$hp;" \
		"listen 443 ssl http2;" "listen 127.0.0.1:$sp ssl http2;" \
		"listen [::]:443 ssl http2;" "listen [::1]:$sp ssl http2;" \
		"unix:/run/wharf/wharf.sock" "unix:$sock" \
		"/etc/letsencrypt/live/registry.example.org/fullchain.pem" "$cert" \
		"/etc/letsencrypt/live/registry.example.org/privkey.pem" "$key" \
		"/var/www/letsencrypt" "$webroot" \
		"include /etc/nginx/wharf-locations.conf;" "include $dir/wharf-locations.conf;" \
		"server_name registry.example.org;" "server_name localhost;" || return 1
	nginx_locations_render "$REPO/nginx-conf/wharf-locations.conf" "$dir/wharf-locations.conf" \
		"$root" "${root%/}/wharf/body"
}

# ---- Apache -----------------------------------------------------------------------

APACHE_USER=nobody
APACHE_GROUP=$(id -gn nobody 2>/dev/null || echo nogroup)

# apache_render DIR: DIR/httpd.conf from apache-conf/httpd.conf.in; the sites
# go to DIR/sites/*.conf.
apache_render() {
	local dir=$1
	mkdir -p "$dir/sites"
	chmod 755 "$dir"
	sed -e "s|@RUNDIR@|$dir|g" -e "s|@USER@|$APACHE_USER|g" -e "s|@GROUP@|$APACHE_GROUP|g" \
		"$REPO/apache-conf/httpd.conf.in" >"$dir/httpd.conf"
}

# apache_proxy_render DIR SOCK ROOT: DIR/wharf-proxy.conf for socket SOCK and
# storage root ROOT.
apache_proxy_render() {
	local dir=$1 sock=$2 root=$3
	cp "$REPO/apache-conf/wharf-proxy.conf" "$dir/wharf-proxy.conf"
	render_sub "$dir/wharf-proxy.conf" \
		'"unix:/run/wharf/wharf.sock|' "\"unix:$sock|" \
		"XSendFilePath /var/lib/registry" "XSendFilePath ${root%/}" \
		"/usr/share/wharf/ui" "$REPO/admin/ui"
}

# apache_vhost_render DIR HTTP_PORT HTTPS_PORT NAME CERTMODE [CERT KEY]: DIR/sites/
# wharf-vhost.conf from apache-conf/wharf-vhost.conf (server name NAME, ports,
# DIR/wharf-proxy.conf, certbot's webroot DIR/webroot). CERTMODE files: the
# MDomain line is dropped and the SSLCertificate lines name CERT and KEY; md:
# mod_md manages NAME (the test adds its CA).
apache_vhost_render() {
	local dir=$1 hp=$2 sp=$3 name=$4 mode=$5 cert=${6:-} key=${7:-} f
	mkdir -p "$dir/webroot/.well-known/acme-challenge"
	chmod -R 755 "$dir/webroot"
	f=$dir/sites/wharf-vhost.conf
	printf 'Listen 127.0.0.1:%s\nListen [::1]:%s\nListen 127.0.0.1:%s\nListen [::1]:%s\n' \
		"$hp" "$hp" "$sp" "$sp" >"$dir/sites/00-listen.conf"
	cp "$REPO/apache-conf/wharf-vhost.conf" "$f"
	render_sub "$f" "<VirtualHost *:80>" "<VirtualHost *:$hp>" \
		"<VirtualHost *:443>" "<VirtualHost *:$sp>" \
		"https://registry.example.org/\$1" "https://$name:$sp/\$1" \
		"Include /etc/apache2/wharf-proxy.conf" "Include $dir/wharf-proxy.conf" \
		"/var/www/letsencrypt" "$dir/webroot" \
		"registry.example.org" "$name" || return 1
	if [ "$mode" = files ]; then
		render_sub "$f" "MDomain $name" "# (no mod_md in this test)" \
			"# SSLCertificateFile /etc/letsencrypt/live/$name/fullchain.pem" "SSLCertificateFile $cert" \
			"# SSLCertificateKeyFile /etc/letsencrypt/live/$name/privkey.pem" "SSLCertificateKeyFile $key"
	fi
}

# apache_start DIR: configtest, then apache2 in the foreground (background
# job). Sets APACHE_PID.
apache_start() {
	local dir=$1
	apache2 -t -d "$dir" -f "$dir/httpd.conf" >"$dir/configtest.log" 2>&1 || {
		diag "apache2 -t failed:" "$(cat "$dir/configtest.log")"
		return 1
	}
	apache2 -d "$dir" -f "$dir/httpd.conf" -DFOREGROUND >"$dir/stderr.log" 2>&1 </dev/null &
	APACHE_PID=$!
	track_pid "$APACHE_PID"
}

# wait_https URL PID CAFILE [SECONDS]: until URL answers 200 or 401 over TLS
# verified with CAFILE, while PID lives.
wait_https() {
	wait_http "$1" "$2" "${4:-20}" --cacert "$3"
}

# ---- pebble: a local ACME CA ----------------------------------------------------------

# ns_hosts_file: $TMP/hosts, this machine's /etc/hosts plus $E2E_V6NAME -> ::1.
ns_hosts_file() {
	[ -f "$TMP/hosts" ] || { cat /etc/hosts; echo "::1 $E2E_V6NAME"; } >"$TMP/hosts"
}

# pebble_start DIR HTTP_PORT: pebble validating http-01 on HTTP_PORT (in a mount
# namespace where $E2E_V6NAME resolves to ::1, so names of both kinds
# validate). Sets
# PEBBLE_DIRURL, PEBBLE_CA (pebble's own TLS certificate, to reach its API),
# PEBBLE_ROOT (the root that issued certificates chain to; fetched after start).
pebble_start() {
	local dir=$1 hp=$2 port mport tport i
	mkdir -p "$dir"
	port=$(free_port) && mport=$(free_port) && tport=$(free_port) || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pebble" \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$dir/pebble.key" -out "$dir/pebble.crt" >"$dir/openssl.log" 2>&1 || return 1
	cat >"$dir/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$mport",
 "certificate": "$dir/pebble.crt", "privateKey": "$dir/pebble.key",
 "httpPort": $hp, "tlsPort": $tport, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOF
	ns_hosts_file
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_VA_ALWAYS_VALID=0 \
		unshare -m --propagation private sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
		sh "$TMP/hosts" pebble -config "$dir/pebble.json" >"$dir/pebble.log" 2>&1 </dev/null &
	PEBBLE_PID=$!
	track_pid "$PEBBLE_PID"
	PEBBLE_CA=$dir/pebble.crt
	PEBBLE_DIRURL=https://127.0.0.1:$port/dir
	for ((i = 0; i < 100; i++)); do
		curl -sf --cacert "$PEBBLE_CA" -o "$dir/root.pem" "https://127.0.0.1:$mport/roots/0" 2>/dev/null &&
			curl -sf --cacert "$PEBBLE_CA" -o /dev/null "$PEBBLE_DIRURL" && break
		kill -0 "$PEBBLE_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$dir/root.pem" ] || { diag "pebble did not start:" "$(tail -n 20 "$dir/pebble.log")"; return 1; }
	PEBBLE_ROOT=$dir/root.pem
	mkdir -p "$dir/certdir"
	cp "$PEBBLE_ROOT" "$dir/certdir/ca.crt"
}

# ---- docker that verifies TLS ------------------------------------------------------

# dockerd_tls_start: a private dockerd (as lib.sh's dockerd_start) in its own
# mount namespace, where /etc/hosts maps $E2E_V6NAME to ::1 and /etc/docker
# is $TMP/docker/etc (so certs.d/<host:port>/ca.crt of this test only;
# dockerd reads certificates from /etc/docker/certs.d and nowhere else).
# Nothing outside $TMP is changed. Sets DOCKER_HOST (exported), DOCKER,
# DOCKER_CERTS (the certs.d directory).
dockerd_tls_start() {
	local d=$TMP/docker
	mkdir -p "$d/etc/certs.d" "$TMP/dockercfg"
	echo '{}' >"$TMP/dockercfg/config.json"
	export DOCKER_CONFIG=$TMP/dockercfg
	DOCKER_CERTS=$d/etc/certs.d
	ns_hosts_file
	DOCKER=docker
	[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
	[ -d /etc/docker ] || mkdir -p /etc/docker
	unshare -m --propagation private sh -c \
		'mount --bind "$1/hosts" /etc/hosts && mount --bind "$1/docker/etc" /etc/docker && shift && exec "$@"' \
		sh "$TMP" dockerd --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/sock" \
		--storage-driver vfs --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
		>"$d/dockerd.log" 2>&1 </dev/null &
	dockerd_ready "$!" "$d"
}

# ---- the client matrix ------------------------------------------------------------

# matrix_setup [docker]: private storage for podman and buildah, a small OCI
# image $TMP/src:v1 (2 layers), a buildah image with a known file, and (with
# "docker") a verifying dockerd with the image loaded as e2e/local:v1.
matrix_setup() {
	mkdir -p "$TMP/podman/root" "$TMP/podman/run" "$TMP/podman/tmp" "$TMP/buildah/root" \
		"$TMP/buildah/run"
	export TMPDIR=$TMP/podman/tmp
	PODMAN=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
		--events-backend file --cgroup-manager cgroupfs --tmpdir "$TMP/podman/tmp")
	BUILDAH=(buildah --root "$TMP/buildah/root" --runroot "$TMP/buildah/run" --storage-driver vfs)
	at_exit "${PODMAN[*]} rmi -a -f"
	at_exit "${BUILDAH[*]} rm -a; ${BUILDAH[*]} rmi -a -f"
	mkimage "$TMP/src" --tag v1 --layers 2 --size 300000 --seed matrix >"$TMP/src.digest" || return 1
	"${PODMAN[@]}" pull -q oci:"$TMP/src":v1 >"$TMP/podman-load.log" 2>&1 || return 1
	M_PODMAN_ID=$("${PODMAN[@]}" images -q --no-trunc | head -n 1)
	M_PODMAN_ID=${M_PODMAN_ID#sha256:}
	head -c 400000 /dev/urandom >"$TMP/payload.bin"
	local ctr
	ctr=$("${BUILDAH[@]}" from scratch 2>/dev/null) &&
		"${BUILDAH[@]}" copy "$ctr" "$TMP/payload.bin" /payload.bin >/dev/null 2>&1 &&
		"${BUILDAH[@]}" commit -q --format oci "$ctr" e2e-buildah:v1 >/dev/null 2>&1 || return 1
	if [ "${1:-}" = docker ]; then
		"${SKOPEO[@]}" copy -q oci:"$TMP/src":v1 docker-archive:"$TMP/img.tar":e2e/local:v1 \
			>/dev/null 2>&1 || return 1
		dockerd_tls_start || return 1
		"$DOCKER" load -q -i "$TMP/img.tar" >/dev/null 2>&1 || return 1
		M_DOCKER_ID=$("$DOCKER" image inspect --format '{{.Id}}' e2e/local:v1 2>/dev/null)
	fi
}

# matrix_run LABEL HOST CERTDIR [DOCKERHOST]: push and pull with skopeo, podman,
# buildah (and docker when DOCKERHOST is given and matrix_setup started it),
# each trusting only CERTDIR/ca.crt; repositories LABEL/<client>. Checks that
# what comes back is byte-identical.
matrix_run() {
	local l=$1 h=$2 cd=$3 dh=${4:-} out
	out=$TMP/m-$l
	mkdir -p "$out"
	# skopeo: OCI layout -> registry -> OCI layout
	check "$l: skopeo push over TLS (--dest-cert-dir)" "${SKOPEO[@]}" copy -q --dest-cert-dir "$cd" \
		--preserve-digests oci:"$TMP/src":v1 "docker://$h/$l/skopeo:v1"
	check "$l: skopeo pull over TLS (--src-cert-dir)" "${SKOPEO[@]}" copy -q --src-cert-dir "$cd" \
		--preserve-digests "docker://$h/$l/skopeo:v1" oci:"$out/skopeo":v1
	check "$l: skopeo round trip byte-identical" blobs_same "$TMP/src" "$out/skopeo"
	check_eq "$l: skopeo manifest digest unchanged" "$(cat "$TMP/src.digest")" \
		"$(oci_top_digest "$out/skopeo" v1 2>/dev/null)"
	# podman: push (chunked PATCH bodies), rmi, pull
	"${PODMAN[@]}" tag "$M_PODMAN_ID" "$h/$l/podman:v1" >/dev/null 2>&1
	check "$l: podman push over TLS (--cert-dir)" "${PODMAN[@]}" push -q --cert-dir "$cd" \
		--digestfile "$out/podman.digest" "$h/$l/podman:v1"
	"${PODMAN[@]}" rmi -f "$h/$l/podman:v1" >/dev/null 2>&1
	check "$l: podman pull over TLS (--cert-dir)" "${PODMAN[@]}" pull -q --cert-dir "$cd" "$h/$l/podman:v1"
	local id
	id=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$h/$l/podman:v1" 2>/dev/null)
	check_eq "$l: podman image ID unchanged" "$M_PODMAN_ID" "${id#sha256:}"
	# buildah: push a committed image; skopeo reads it back, the file is intact
	check "$l: buildah push over TLS (--cert-dir)" "${BUILDAH[@]}" push -q --cert-dir "$cd" \
		--digestfile "$out/buildah.digest" e2e-buildah:v1 "docker://$h/$l/buildah:v1"
	check "$l: buildah image pulled back" "${SKOPEO[@]}" copy -q --src-cert-dir "$cd" \
		"docker://$h/$l/buildah:v1" dir:"$out/buildah"
	local layer
	layer=$(jq -r '.layers[0].digest' "$out/buildah/manifest.json" 2>/dev/null)
	mkdir -p "$out/buildah-x"
	(zcat -f "$out/buildah/${layer#sha256:}" | tar -x -C "$out/buildah-x") 2>/dev/null
	check "$l: buildah layer holds the file byte-identical" cmp "$TMP/payload.bin" "$out/buildah-x/payload.bin"
	check_eq "$l: buildah manifest digest as pushed" "$(cat "$out/buildah.digest" 2>/dev/null)" \
		"sha256:$(sha256sum <"$out/buildah/manifest.json" | cut -d' ' -f1)"
	# docker: tag, push, rmi, pull; verified TLS through certs.d
	[ -n "$dh" ] || return 0
	if [ -z "${DOCKERD_PID:-}" ]; then
		t_fail "$l: docker push/pull" "dockerd not started"
		return 0
	fi
	"$DOCKER" tag e2e/local:v1 "$dh/$l/docker:v1"
	"$DOCKER" push "$dh/$l/docker:v1" >"$out/docker-push.log" 2>&1
	t_result "$l: docker push over TLS (certs.d/$dh/ca.crt)" $? "$(tail -n 5 "$out/docker-push.log")"
	"$DOCKER" rmi -f "$dh/$l/docker:v1" >/dev/null 2>&1
	"$DOCKER" pull -q "$dh/$l/docker:v1" >"$out/docker-pull.log" 2>&1
	t_result "$l: docker pull over TLS" $? "$(tail -n 5 "$out/docker-pull.log")"
	check_eq "$l: docker image Id unchanged" "$M_DOCKER_ID" \
		"$("$DOCKER" image inspect --format '{{.Id}}' "$dh/$l/docker:v1" 2>/dev/null)"
	"$DOCKER" rmi -f "$dh/$l/docker:v1" >/dev/null 2>&1
	return 0
}

# docker_trust HOST:PORT CAFILE: make the test's dockerd trust CAFILE for
# HOST:PORT (certs.d inside its own /etc/docker).
docker_trust() {
	mkdir -p "$DOCKER_CERTS/$1"
	cp "$2" "$DOCKER_CERTS/$1/ca.crt"
}

# docker_untrusted_fails LABEL HOST:PORT: before docker_trust, a push must fail
# on the certificate (proves docker verifies).
docker_untrusted_fails() {
	local l=$1 dh=$2
	"$DOCKER" tag e2e/local:v1 "$dh/$l/untrusted:v1"
	if "$DOCKER" push "$dh/$l/untrusted:v1" >"$TMP/untrusted.log" 2>&1; then
		t_fail "$l: docker refuses the registry before its CA is in certs.d" "push succeeded"
	elif grep -qiE 'x509|certificate' "$TMP/untrusted.log"; then
		t_ok "$l: docker refuses the registry before its CA is in certs.d"
	else
		t_fail "$l: docker refuses the registry before its CA is in certs.d" "$(tail -n 3 "$TMP/untrusted.log")"
	fi
	"$DOCKER" rmi -f "$dh/$l/untrusted:v1" >/dev/null 2>&1
}

# pool_log_clean: no sanitizer report and no crashed worker in $W_DIR/wharf.log.
pool_log_clean() {
	[ -f "$W_DIR/wharf.log" ] || return 0
	if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|killed by signal (4|6|7|8|11) ' \
		"$W_DIR/wharf.log"; then
		t_fail "no worker crashed, no sanitizer report ($W_DIR)" \
			"$(grep -E -A 5 'Sanitizer|runtime error:|killed by signal' "$W_DIR/wharf.log" | head -n 30)"
	else
		t_ok "no worker crashed, no sanitizer report ($(basename "$W_DIR"))"
	fi
}
