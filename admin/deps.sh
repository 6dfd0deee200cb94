#!/bin/sh
# Install what Wharf needs to build, run and test, only when absent (Debian 12).
# Idempotent: a second run installs nothing and does not touch apt at all.
set -e
need=""
chk_cmd() { command -v "$1" >/dev/null 2>&1 || need="$need $2"; }
chk_pc() { pkg-config --exists "$1" 2>/dev/null || need="$need $2"; }
chk_file() { [ -e "$1" ] || need="$need $2"; }

chk_cmd cc gcc
chk_cmd make make
chk_cmd pkg-config pkg-config
chk_file /usr/include/fcgiapp.h libfcgi-dev
chk_pc yaml-0.1 libyaml-dev
chk_pc openssl libssl-dev
chk_pc json-c libjson-c-dev
chk_pc libcurl libcurl4-openssl-dev
chk_pc hiredis libhiredis-dev
chk_file /usr/include/crypt.h libcrypt-dev
chk_pc libpcre2-8 libpcre2-dev
chk_pc cmocka libcmocka-dev
chk_cmd nginx nginx-light
chk_cmd curl curl
chk_cmd python3 python3
if [ "${WHARF_DEPS:-}" = test ] || [ "${1:-}" = test ]; then
    chk_cmd skopeo skopeo
    chk_cmd podman podman
    chk_cmd buildah buildah
    # builds (issue 18): git fetches the sources, runc runs the built images (t_builds)
    chk_cmd git git
    chk_cmd runc runc
    chk_cmd dockerd docker.io
    # make image and its tests (t_image, t_image_swarm): PID 1 of the image
    chk_cmd tini tini
    chk_cmd docker-registry docker-registry
    chk_cmd spawn-fcgi spawn-fcgi
    chk_cmd jq jq
    chk_cmd valgrind valgrind
    chk_cmd newuidmap uidmap
    # kill at each commit point and the fsync order (t_crash, t_fsync); pgrep, fallocate
    chk_cmd strace strace
    chk_cmd pgrep procps
    chk_cmd fallocate util-linux
    # deployment shapes over TLS (tests/e2e/t_tls_*, t_apache_*, t_cgi_*, t_acme_*)
    chk_cmd openssl openssl
    chk_cmd apache2 apache2
    chk_file /usr/lib/apache2/modules/mod_xsendfile.so libapache2-mod-xsendfile
    chk_cmd pebble pebble
    chk_cmd certbot certbot
    chk_cmd swift-proxy-server "swift swift-proxy swift-object swift-container swift-account"
    chk_cmd memcached memcached
    chk_cmd redis-server redis-server
    # the debug server's exposition checked by promtool (t_metrics)
    chk_cmd promtool prometheus
    # log.hooks mail delivered to a local SMTP sink (t_log_hooks)
    # (Debian's python3: the tests run /usr/bin/python3, whatever python3 is first in PATH)
    /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need="$need python3-aiosmtpd"
    # make fuzz: clang with libFuzzer and the sanitizer runtimes
    chk_cmd clang-14 clang-14
    ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
        need="$need libclang-rt-14-dev"
fi
# make image: docker (client and daemon), tini (the image's PID 1), skopeo
# (the OCI archive)
if [ "${1:-}" = image ]; then
    chk_cmd dockerd docker.io
    chk_cmd tini tini
    chk_cmd skopeo skopeo
fi
# make run FRONT=apache
if [ "${FRONT:-}" = apache ]; then
    chk_cmd apache2 apache2
    chk_file /usr/lib/apache2/modules/mod_xsendfile.so libapache2-mod-xsendfile
fi
# the azure driver's tests: azurite (npm) in a tool directory, not system-wide
# (tests/storage/azure_lib.sh looks there); node and npm from Debian
if [ "${WHARF_DEPS:-}" = test ] || [ "${1:-}" = test ]; then
    chk_cmd node nodejs
    chk_cmd npm npm
    # the web UI's browser tests (tests/e2e/t_ui.sh): headless Chromium
    chk_cmd chromium chromium
fi
install_azurite() {
    [ "${WHARF_DEPS:-}" = test ] || [ "${1:-}" = test ] || return 0
    command -v azurite-blob >/dev/null 2>&1 && return 0
    t=${WHARF_TOOLS:-${HOME:-/root}/.cache/wharf}/azurite
    [ -x "$t/node_modules/.bin/azurite-blob" ] && return 0
    command -v npm >/dev/null 2>&1 || return 0
    echo "deps: installing azurite (npm) into $t" >&2
    mkdir -p "$t"
    npm install --prefix "$t" --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null ||
        echo "deps: azurite not installed (the azure tests will be skipped)" >&2
}
# the web UI's browser tests drive Debian's chromium with playwright-core
# (npm, no browser download), in the same tool directory
install_playwright() {
    [ "${WHARF_DEPS:-}" = test ] || [ "${1:-}" = test ] || return 0
    t=${WHARF_TOOLS:-${HOME:-/root}/.cache/wharf}/playwright
    [ -f "$t/node_modules/playwright-core/package.json" ] && return 0
    command -v npm >/dev/null 2>&1 || return 0
    echo "deps: installing playwright-core (npm) into $t" >&2
    mkdir -p "$t"
    npm install --prefix "$t" --no-audit --no-fund --loglevel=error playwright-core@1.65.1 >/dev/null ||
        echo "deps: playwright-core not installed (the web UI tests will be skipped)" >&2
}
if [ -z "$need" ]; then
    install_azurite "${1:-}"
    install_playwright "${1:-}"
    exit 0
fi
echo "deps: installing$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
install_azurite "${1:-}"
install_playwright "${1:-}"
