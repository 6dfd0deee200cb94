#!/bin/bash
# The wharf image's HEALTHCHECK: the front's /v2/ answers (200, or 401 when
# authentication is on), over the address and scheme admin/run.sh serves
# (it writes them to $WHARF_RUNDIR/probe once up).
probe=${WHARF_RUNDIR:-/tmp/wharf}/probe
[ -r "$probe" ] || exit 1
mapfile -t args <"$probe"
code=$(curl -sk -o /dev/null -m 5 -w '%{http_code}' "${args[@]}") || exit 1
case $code in 200 | 401) exit 0 ;; *) exit 1 ;; esac
