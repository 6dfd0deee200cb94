#!/usr/bin/env bash
# admin/run.sh (`make run`) — serve a Wharf registry from this checkout:
# nginx on http://127.0.0.1:${WHARF_PORT:-5000} in front of `wharf serve`,
# blobs in ./data, runtime files (config.yml, nginx.conf, socket, pids, logs)
# in ./run. Ctrl-C stops both.
#
# run/config.yml is written anew on each start. REGISTRY_* environment
# variables override it, as with the reference registry, e.g.
#     REGISTRY_STORAGE_DELETE_ENABLED=true make run
# Env: WHARF_PORT (5000), BUILD (build), WHARF_WORKERS (8), WHARF_RUNDIR (./run),
# WHARF_DATA (./data), WHARF_LOGLEVEL (info), FRONT (nginx | apache).
#
# FRONT=apache (`make run FRONT=apache`): Apache instead of nginx, same port,
# same data: apache-conf/httpd.conf.in around apache-conf/wharf-proxy.conf
# (mod_proxy_fcgi, blobs by mod_xsendfile), Wharf with blobs.accel: apache.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$repo/$BUILD ;; esac
port=${WHARF_PORT:-5000}
run=${WHARF_RUNDIR:-$repo/run}
data=${WHARF_DATA:-$repo/data}
sock=$run/wharf.sock
front=${FRONT:-nginx}

die() {
	echo "make run: $*" >&2
	exit 1
}

[ -x "$BUILD/wharf" ] || die "no $BUILD/wharf: run make first"
case $front in
nginx) command -v nginx >/dev/null || die "nginx is not installed (admin/deps.sh installs it)" ;;
apache)
	command -v apache2 >/dev/null && [ -e /usr/lib/apache2/modules/mod_xsendfile.so ] ||
		die "apache2 or mod_xsendfile is not installed (FRONT=apache admin/deps.sh installs them)"
	;;
*) die "FRONT must be nginx or apache, not '$front'" ;;
esac
accel=$front
case $port in '' | *[!0-9]*) die "WHARF_PORT must be a number, not '$port'" ;; esac
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	die "port $port is busy on 127.0.0.1 (another registry?): stop it or set WHARF_PORT"
fi

# Files Wharf creates must be readable by nginx's workers (nobody, as root).
umask 022
mkdir -p "$run/tmp" "$data"
chmod 755 "$run" "$data"
if [ "$(id -u)" -eq 0 ]; then
	# As root, nginx workers run as nobody: every directory above the socket
	# and the blobs must be searchable by others.
	for d in "$(dirname "$run")" "$(dirname "$data")"; do
		while [ "$d" != / ]; do
			case $(stat -c %A "$d") in
			?????????[xt]) ;;
			*) die "$d is not searchable by others (nginx workers run as nobody): chmod o+x $d, or use a checkout elsewhere" ;;
			esac
			d=$(dirname "$d")
		done
	done
fi
[ -e "$sock" ] && [ ! -S "$sock" ] && die "$sock exists and is not a socket"
rm -f "$sock"

cat >"$run/config.yml" <<EOF
# Written by admin/run.sh (make run) on every start: edit the script or use
# REGISTRY_* environment variables instead.
version: 0.1
log:
  level: ${WHARF_LOGLEVEL:-info}
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
fastcgi:
  listen: unix:$sock
  workers: ${WHARF_WORKERS:-8}
  blobs:
    accel: $accel
    prefix: /_wharf_blobs/
  pidfile: $run/wharf.pid
EOF

if [ "$front" = nginx ]; then
	sed -e "s|@RUNDIR@|$run|g" -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@SOCKET@|$sock|g" \
		-e "s|@ROOT@|$data|g" nginx-conf/nginx.conf.in >"$run/nginx.conf"
	sed -e "s|alias /var/lib/registry/;|alias $data/;|" nginx-conf/wharf-locations.conf \
		>"$run/wharf-locations.conf"
	grep -q "alias $data/;" "$run/wharf-locations.conf" || die "could not set the storage root in $run/wharf-locations.conf"
	nginx -t -q -e "$run/nginx-error.log" -p "$run" -c "$run/nginx.conf" || die "nginx rejects $run/nginx.conf"
else
	# Children run as nobody when started as root, like nginx's workers.
	user=$(id -un)
	group=$(id -gn)
	[ "$(id -u)" -eq 0 ] && user=nobody && group=$(id -gn nobody)
	mkdir -p "$run/sites"
	sed -e "s|@RUNDIR@|$run|g" -e "s|@USER@|$user|g" -e "s|@GROUP@|$group|g" \
		apache-conf/httpd.conf.in >"$run/httpd.conf"
	sed -e "s#\"unix:/run/wharf/wharf.sock|#\"unix:$sock|#" \
		-e "s|XSendFilePath /var/lib/registry|XSendFilePath $data|" \
		apache-conf/wharf-proxy.conf >"$run/wharf-proxy.conf"
	grep -q "XSendFilePath $data\$" "$run/wharf-proxy.conf" && grep -qF "unix:$sock|" "$run/wharf-proxy.conf" ||
		die "could not set the socket and storage root in $run/wharf-proxy.conf"
	cat >"$run/sites/wharf.conf" <<EOF
# Written by admin/run.sh (make run FRONT=apache).
Listen 127.0.0.1:$port
<VirtualHost 127.0.0.1:$port>
    ServerName localhost
    Include $run/wharf-proxy.conf
</VirtualHost>
EOF
	apache2 -t -d "$run" -f "$run/httpd.conf" 2>"$run/apache-configtest.log" ||
		die "apache2 rejects $run/httpd.conf: $(cat "$run/apache-configtest.log")"
fi

wpid=
npid=
stop() {
	trap - INT TERM EXIT
	# (kill of a process that already exited fails: not an error here)
	set +e
	echo >&2
	echo "Stopping Wharf..." >&2
	# nginx: QUIT is its graceful stop; Apache: TERM (stops at once, Wharf
	# still drains what reached it)
	[ -n "$npid" ] && kill "-$([ "$front" = nginx ] && echo QUIT || echo TERM)" "$npid" 2>/dev/null
	[ -n "$wpid" ] && kill -TERM "$wpid" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		{ [ -n "$npid" ] && kill -0 "$npid" 2>/dev/null; } ||
			{ [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null; } || break
		sleep 0.1
	done
	[ -n "$npid" ] && kill -KILL "$npid" 2>/dev/null
	[ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null
	wait 2>/dev/null
	rm -f "$sock"
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

# Own sessions: Ctrl-C reaches this script only, which then stops nginx
# gracefully and gives Wharf its SIGTERM drain. The environment (REGISTRY_*)
# is inherited by wharf.
setsid "$BUILD/wharf" serve -c "$run/config.yml" </dev/null &
wpid=$!
for i in $(seq 1 100); do
	[ -S "$sock" ] && break
	kill -0 "$wpid" 2>/dev/null || break
	sleep 0.1
done
[ -S "$sock" ] || { echo "make run: wharf serve did not create $sock" >&2; stop 1; }

if [ "$front" = nginx ]; then
	setsid nginx -e "$run/nginx-error.log" -p "$run" -c "$run/nginx.conf" </dev/null &
else
	setsid apache2 -d "$run" -f "$run/httpd.conf" -DFOREGROUND </dev/null &
fi
npid=$!
up=
for i in $(seq 1 100); do
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" 2>/dev/null || true)
	case $code in 200 | 401) up=1 && break ;; esac
	kill -0 "$npid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$up" ] || { echo "make run: no answer on http://127.0.0.1:$port/v2/ (see $run/$([ "$front" = nginx ] && echo nginx-error.log || echo error.log))" >&2; stop 1; }

echo "Wharf is serving http://127.0.0.1:$port through $front (storage $data) — Ctrl-C to stop"
# Until Ctrl-C, or until either process exits on its own.
wait -n "$wpid" "$npid" || true
echo "make run: $(kill -0 "$wpid" 2>/dev/null && echo "$front" || echo wharf) exited" >&2
stop 1
