#!/bin/bash
# The wharf image's entry point (admin/image.sh), run by tini as PID 1 (tini
# forwards `docker stop`'s SIGTERM here and reaps orphans).
#   serve (the default command): nginx on the configuration's http.addr
#     (:5000) in front of `wharf serve`, exactly as `make run` starts them:
#     this is admin/run.sh, with the configuration at
#     /etc/docker/registry/config.yml (the reference image's path; REGISTRY_*
#     variables override it), runtime files in /tmp/wharf, logs on
#     stdout/stderr. SIGTERM: nginx stops gracefully, then the pool drains.
#   anything else: a `wharf` command, e.g.
#     docker exec registry wharf garbage-collect /etc/docker/registry/config.yml
#     docker run --rm wharf:latest config check -c /etc/docker/registry/config.yml
#   (/bin/registry is wharf too: the reference image's
#   `bin/registry garbage-collect /etc/docker/registry/config.yml` works.)
set -eu
if [ "${1:-serve}" = serve ] && [ $# -le 1 ]; then
	export CONFIG=${WHARF_CONFIG_FILE:-/etc/docker/registry/config.yml}
	export BUILD=/usr/bin
	export WHARF_RUNDIR=${WHARF_RUNDIR:-/tmp/wharf}
	export WHARF_LOGS=${WHARF_LOGS:-stdio}
	exec /bin/bash /usr/lib/wharf/admin/run.sh
fi
# `docker run wharf:latest wharf gc ...` and `... garbage-collect ...` alike
[ "$1" = wharf ] && shift
exec /usr/bin/wharf "$@"
