#!/usr/bin/env bash
# admin/image.sh (`make image`) — the wharf container image, built from what
# this machine has (no base image is pulled: none can be, here or in CI):
# the built wharf binary, nginx, the tools admin/run.sh uses, tini, and
# exactly the shared libraries they load (ldd closures, plus libcurl's, which
# wharf loads with dlopen for object stores and the pull-through mirror).
#
# Output:
#   - $IMAGE (wharf:latest) in the Docker daemon at DOCKER_HOST (the default
#     socket otherwise), built with `docker build` from $BUILD/image/;
#   - $BUILD/wharf-image.oci.tar, an OCI archive of the same image for
#     podman/skopeo (`podman load -i`, `skopeo copy oci-archive:...`).
#
# Inside (README "Container image"): ENTRYPOINT tini -> admin/image/entrypoint.sh
# -> admin/run.sh (the same nginx configuration as `make run`), config at
# /etc/docker/registry/config.yml, data at /var/lib/registry (a VOLUME),
# runtime files in /tmp/wharf, logs on stdout/stderr, port 5000.
#
# Env: BUILD (build), IMAGE (wharf:latest), OCI (build/wharf-image.oci.tar;
# empty: skip the archive), IMAGE_CTX (the build context, build/image).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$repo/$BUILD ;; esac
IMAGE=${IMAGE:-wharf:latest}
OCI=${OCI-$BUILD/wharf-image.oci.tar}

die() {
	echo "make image: $*" >&2
	exit 1
}

[ -x "$BUILD/wharf" ] || die "no $BUILD/wharf: run make first"
command -v docker >/dev/null || die "docker (the client) is not installed"
command -v nginx >/dev/null || die "nginx is not installed (admin/deps.sh installs it)"
command -v tini >/dev/null || die "tini is not installed (admin/deps.sh installs it)"
docker version >/dev/null 2>&1 || die "no Docker daemon answers at ${DOCKER_HOST:-the default socket}"

ctx=${IMAGE_CTX:-$BUILD/image}
root=$ctx/rootfs
rm -rf "$ctx"
mkdir -p "$root"
cd "$root"
mkdir -p usr/bin usr/sbin usr/lib usr/lib64 etc/docker/registry etc/ssl/certs \
	var/lib/registry usr/lib/wharf/admin/image usr/lib/wharf/nginx-conf tmp
chmod 1777 tmp
ln -s usr/bin bin
ln -s usr/sbin sbin
ln -s usr/lib lib
ln -s usr/lib64 lib64

# put FILE: copy a host file to the same path in the root (merged /usr:
# /lib, /bin, /sbin are /usr's), dereferencing symbolic links
put() {
	local src=$1 dst=${1#/}
	case $dst in bin/* | sbin/* | lib/* | lib64/*) dst=usr/$dst ;; esac
	[ -e "$dst" ] && return 0
	mkdir -p "$(dirname "$dst")"
	cp -L "$src" "$dst"
}
# libs FILE: put the shared libraries FILE loads (its ldd closure)
libs() {
	local lib
	for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		put "$lib"
	done
}
# tool NAME [AS]: a program from PATH into /usr/bin (as AS), with its libraries
tool() {
	local path
	path=$(command -v "$1") || die "$1 is not installed"
	cp -L "$path" "usr/bin/${2:-$1}"
	libs "$path"
}

install -m 755 "$BUILD/wharf" usr/bin/wharf
strip --strip-unneeded usr/bin/wharf
libs usr/bin/wharf
ln -s wharf usr/bin/registry # the reference image's /bin/registry
cp -L "$(command -v nginx)" usr/sbin/nginx
libs usr/sbin/nginx
# what admin/run.sh, the entry point and the health check run
for t in tini bash sed grep head od tr cat dirname mkdir chmod stat id seq rm setsid sleep curl; do
	tool "$t"
done
ln -s bash usr/bin/sh
# libcurl: dlopen()ed by wharf (lib/curl_lazy.c) for S3, Swift, Azure, GCS,
# OSS, the pull-through mirror, token auth and notifications
curl_so=$(ldconfig -p | awk '$1 == "libcurl.so.4" && /x86-64|x86_64|64bit/ { print $NF; exit }')
[ -n "$curl_so" ] || curl_so=$(ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')
[ -n "$curl_so" ] || die "libcurl.so.4 not found (libcurl4 is needed for object stores)"
put "$curl_so"
libs "$curl_so"
# the dynamic loader's cache, so that dlopen("libcurl.so.4") finds it
printf '%s\n' /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/lib64 >etc/ld.so.conf
ldconfig -r "$root"
# CAs for https object stores and upstream registries (libcurl's default path)
[ -r /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >etc/nsswitch.conf

install -m 755 "$repo/admin/run.sh" usr/lib/wharf/admin/run.sh
install -m 755 "$repo/admin/image/entrypoint.sh" "$repo/admin/image/healthcheck.sh" usr/lib/wharf/admin/image/
install -m 644 "$repo/nginx-conf/nginx.conf.in" "$repo/nginx-conf/wharf-locations.conf" usr/lib/wharf/nginx-conf/
install -m 644 "$repo/admin/image/config.yml" etc/docker/registry/config.yml

# the image must start: every program finds its libraries in the root
# (chroot needs root; the container tests check it otherwise)
if [ "$(id -u)" -eq 0 ]; then
	chroot "$root" /usr/sbin/nginx -v 2>/dev/null || die "nginx does not run in the image root"
	chroot "$root" /usr/bin/curl --version >/dev/null || die "curl does not run in the image root"
	# (not a sanitizer build: without /proc in the chroot its runtime reads
	# no ASAN_OPTIONS and its leak check fails; the container has /proc)
	ldd "$BUILD/wharf" | grep -q libasan ||
		chroot "$root" /usr/bin/wharf version >/dev/null || die "wharf does not run in the image root"
fi

# A sanitizer build (make SANITIZER=address image, the tests' ASan run): its
# runtime comes along in the closure; LeakSanitizer cannot run in a container
# without ptrace, so leaks are not checked there.
san=
ldd "$BUILD/wharf" | grep -q libasan && san='ENV ASAN_OPTIONS=detect_leaks=0'
cat >"$ctx/Dockerfile" <<EOF
# Written by admin/image.sh (make image): the root is assembled there.
FROM scratch
COPY rootfs/ /
$san
EXPOSE 5000
VOLUME ["/var/lib/registry"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/usr/lib/wharf/admin/image/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/lib/wharf/admin/image/entrypoint.sh"]
CMD ["serve"]
EOF
cd "$ctx"
# the legacy builder: it needs no buildx plugin, and a FROM scratch build
# needs nothing BuildKit adds (its deprecation notice is not shown)
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" . >/dev/null 2>"$ctx/build.err" ||
	die "docker build failed: $(grep -v DEPRECATED "$ctx/build.err" | tail -n 5)"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "$IMAGE: $((size / 1000000)).$((size / 100000 % 10)) MB ($size bytes), of which:"
du -sk --apparent-size "$root/usr/bin/wharf" "$root/usr/sbin/nginx" "$root/usr/lib" | awk '{ printf "  %6d kB %s\n", $1, $2 }'

if [ -n "$OCI" ]; then
	command -v skopeo >/dev/null || die "skopeo is not installed: no OCI archive (OCI= skips it)"
	rm -f "$OCI" "$ctx/image.tar"
	docker save -o "$ctx/image.tar" "$IMAGE"
	skopeo copy -q "docker-archive:$ctx/image.tar" "oci-archive:$OCI:$IMAGE" || die "skopeo could not write $OCI"
	rm -f "$ctx/image.tar"
	echo "OCI archive: $OCI"
fi
