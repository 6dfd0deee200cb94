#!/bin/bash
# The wharf image's entry point (admin/image.sh), run by tini as PID 1 (tini
# forwards `docker stop`'s SIGTERM here and reaps orphans). Arguments as the
# reference image's entry point takes them:
#   (none), serve, serve FILE, FILE.yml: nginx on the configuration's
#     http.addr (:5000) in front of `wharf serve`, exactly as `make run`
#     starts them: this is admin/run.sh, with the configuration FILE (default
#     /etc/docker/registry/config.yml, the reference image's path; REGISTRY_*
#     variables override it), runtime files in /tmp/wharf, logs on
#     stdout/stderr. SIGTERM: nginx stops gracefully, then the pool drains.
#   a wharf command (garbage-collect, config, repository, catalog, token,
#     notify, version, help, -…), with or without `wharf` or `registry` first:
#     docker exec registry wharf garbage-collect /etc/docker/registry/config.yml
#     docker run --rm wharf:latest config check -c /etc/docker/registry/config.yml
#     (/bin/registry is wharf too: the reference's
#     `bin/registry garbage-collect /etc/docker/registry/config.yml` works)
#   anything else: run as it is (docker run --rm -it wharf:latest sh).
set -eu
serve() {
	export CONFIG=${1:-/etc/docker/registry/config.yml}
	export BUILD=/usr/bin
	export WHARF_RUNDIR=${WHARF_RUNDIR:-/tmp/wharf}
	export WHARF_LOGS=${WHARF_LOGS:-stdio}
	exec /bin/bash /usr/lib/wharf/admin/run.sh
}
case ${1:-serve} in wharf | registry) shift ;; esac
case ${1:-serve} in
serve)
	[ $# -le 2 ] || { echo "usage: serve [CONFIG]" >&2; exit 2; }
	serve "${2:-}"
	;;
*.yml | *.yaml)
	[ $# -eq 1 ] || { echo "usage: CONFIG.yml" >&2; exit 2; }
	serve "$1"
	;;
garbage-collect | config | repository | catalog | token | notify | version | help | -*)
	exec /usr/bin/wharf "$@"
	;;
esac
exec "$@"
