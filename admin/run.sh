#!/usr/bin/env bash
# admin/run.sh (`make run`) — serve a Wharf registry from this checkout:
# nginx (or Apache) in front of `wharf serve`, runtime files (config.yml,
# nginx.conf, socket, pids, logs) in ./run. Ctrl-C stops both.
#
# Without CONFIG: run/config.yml is written anew on each start: blobs in
# ./data, http://127.0.0.1:${WHARF_PORT:-5000}.
# With CONFIG=path/to/config.yml (`make run CONFIG=...`): the user's own
# reference-style configuration is served as it is (storage, auth, ...); the
# web server listens on its http.addr (127.0.0.1:5000 when unset; ":5000"
# means every interface, as with the reference) unless WHARF_PORT is set.
# Either way REGISTRY_* environment variables override the file, as with the
# reference registry, e.g.
#     REGISTRY_STORAGE_DELETE_ENABLED=true make run
# and what the web server needs (the storage root for its blob alias, the
# address) is read back from the configuration Wharf resolved
# (`wharf config check`), so the front always serves blobs from the root
# Wharf stores in. Only fastcgi.listen/pidfile/blobs are set by this script
# (REGISTRY_FASTCGI_* overrides): the socket lives in ./run.
# Env: CONFIG, WHARF_PORT, BUILD (build), WHARF_WORKERS (a static pool of N; default: the dynamic pool),
# WHARF_RUNDIR (./run), WHARF_DATA (./data, without CONFIG),
# WHARF_LOGLEVEL (info), FRONT (nginx | apache), WHARF_BODYFILES (true |
# false: fastcgi.uploads.bodyfiles, nginx only).
#
# FRONT=apache (`make run FRONT=apache`): Apache instead of nginx, same port,
# same data: apache-conf/httpd.conf.in around apache-conf/wharf-proxy.conf
# (mod_proxy_fcgi, blobs by mod_xsendfile), Wharf with blobs.accel: apache.
#
# TLS: REGISTRY_HTTP_TLS_CERTIFICATE and REGISTRY_HTTP_TLS_KEY (the
# reference's variables, e.g. `docker run -e ...` of the image, admin/image.sh)
# make nginx terminate TLS on its port with that certificate and key: here the
# web server is this script's, so TLS is its business. They are taken out of
# the environment before Wharf sees it (Wharf refuses http.tls: TLS belongs to
# the web server). nginx only.
# WHARF_LOGS=stdio: nginx's error log to stderr and its access log to stdout
# (the container image), instead of files in the run directory.
#
# Stopping: INT or TERM (Ctrl-C, systemd, `timeout`, a CI runner, make
# forwarding a second TERM) runs the stop routine once; signals that arrive
# while it runs are ignored, and a guardian process in its own session stops
# nginx/Apache and the pool if this script dies without stopping them
# (SIGKILL included), so nothing is left on the port.
set -eu
# CONFIG is relative to the directory make was started in
config=${CONFIG:-}
[ -n "$config" ] && case $config in /*) ;; *) config=$PWD/$config ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$repo/$BUILD ;; esac
run=${WHARF_RUNDIR:-$repo/run}
sock=$run/wharf.sock
front=${FRONT:-nginx}
port=${WHARF_PORT:-}

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
tls_cert=${REGISTRY_HTTP_TLS_CERTIFICATE:-}
tls_key=${REGISTRY_HTTP_TLS_KEY:-}
unset REGISTRY_HTTP_TLS_CERTIFICATE REGISTRY_HTTP_TLS_KEY
if [ -n "$tls_cert$tls_key" ]; then
	[ -n "$tls_cert" ] && [ -n "$tls_key" ] ||
		die "REGISTRY_HTTP_TLS_CERTIFICATE and REGISTRY_HTTP_TLS_KEY go together"
	[ -r "$tls_cert" ] || die "REGISTRY_HTTP_TLS_CERTIFICATE=$tls_cert: no such readable file"
	[ -r "$tls_key" ] || die "REGISTRY_HTTP_TLS_KEY=$tls_key: no such readable file"
	[ "$front" = nginx ] || die "REGISTRY_HTTP_TLS_*: TLS is terminated by nginx here; with FRONT=apache set it in apache-conf/wharf-vhost.conf"
fi
logs=${WHARF_LOGS:-files}
case $logs in files | stdio) ;; *) die "WHARF_LOGS must be files or stdio, not '$logs'" ;; esac
case $port in *[!0-9]*) die "WHARF_PORT must be a number, not '$port'" ;; esac
[ -z "$config" ] || [ -r "$config" ] || die "CONFIG=$config: no such readable file"

# Files Wharf creates must be readable by nginx's workers (nobody, as root).
umask 022
mkdir -p "$run/tmp"
chmod 755 "$run"
[ -e "$sock" ] && [ ! -S "$sock" ] && die "$sock exists and is not a socket"

# What only this script decides: where the pool listens and how blobs are
# handed to the front. Exported, so that `wharf serve` sees the same
# overrides as `wharf config check` below.
export REGISTRY_FASTCGI_LISTEN=unix:$sock
export REGISTRY_FASTCGI_PIDFILE=$run/wharf.pid
export REGISTRY_FASTCGI_BLOBS_ACCEL=$accel
export REGISTRY_FASTCGI_BLOBS_PREFIX=/_wharf_blobs/
if [ -n "${WHARF_WORKERS:-}" ]; then export REGISTRY_FASTCGI_WORKERS=$WHARF_WORKERS; fi
# Upload bodies received by the web server into files Wharf adopts
# (fastcgi.uploads, issue 12): nginx can, Apache's mod_proxy_fcgi cannot.
# WHARF_BODYFILES=true|false overrides the configuration's choice.
if [ "$front" = apache ]; then
	export REGISTRY_FASTCGI_UPLOADS_BODYFILES=false
elif [ -n "${WHARF_BODYFILES:-}" ]; then
	export REGISTRY_FASTCGI_UPLOADS_BODYFILES=$WHARF_BODYFILES
fi

if [ -z "$config" ]; then
	config=$run/config.yml
	cat >"$config" <<EOF
# Written by admin/run.sh (make run) on every start: edit the script, use
# REGISTRY_* environment variables, or serve your own file with
# make run CONFIG=path/to/config.yml.
version: 0.1
log:
  level: ${WHARF_LOGLEVEL:-info}
storage:
  filesystem:
    rootdirectory: ${WHARF_DATA:-$repo/data}
  delete:
    enabled: false
http:
  addr: 127.0.0.1:${port:-5000}
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
fastcgi:
  workers: ${WHARF_WORKERS:-"{}"}  # {}: the dynamic pool with its defaults (docs/pool.md: fastcgi.workers); WHARF_WORKERS=N: a static pool of N
EOF
fi

# The configuration as Wharf resolves it (file + REGISTRY_*): a bad key stops
# here with Wharf's own message (file:line, key, reason).
resolved=$("$BUILD/wharf" config check -c "$config" 2>"$run/config-check.err") ||
	die "Wharf refuses $config: $(cat "$run/config-check.err")"
# cfg KEY: one scalar of the resolved configuration by its dotted path (as
# `wharf config check` prints it: two spaces per level), without quotes.
cfg() {
	# (bash only: the container image carries no awk)
	local want=$1 line rest depth key p val i
	local -a path=()
	while IFS= read -r line; do
		[[ $line =~ ^\ *(#|$) ]] && continue
		rest=${line#"${line%%[! ]*}"}
		depth=$(((${#line} - ${#rest}) / 2))
		[[ $rest == *:* ]] || continue
		key=${rest%%:*}
		path[depth]=$key
		p=${path[0]}
		for ((i = 1; i <= depth; i++)); do p+=.${path[i]-}; done
		[ "$p" = "$want" ] || continue
		val=${rest#*:}
		val=${val# }
		[[ $val == \"*\" ]] && val=${val:1:${#val}-2}
		printf '%s\n' "$val"
		return 0
	done <<<"$resolved"
}

# An object store has no root for nginx's upload body files: make run gives
# it ./run/body (local disk; the worker sends the finished file to the store,
# so a slow client holds no worker there either). Body files then default on
# for object stores (s3, swift, azure, gcs, oss) as for the filesystem; a
# configuration saying bodyfiles: false, or its own bodydir, is kept.
objstore=
for k in storage.s3.bucket storage.swift.container storage.azure.container storage.gcs.bucket storage.oss.bucket; do
	[ -n "$(cfg "$k")" ] && objstore=1
done
if [ "$front" = nginx ] && [ -n "$objstore" ] && [ -z "$(cfg fastcgi.uploads.bodydir)" ]; then
	export REGISTRY_FASTCGI_UPLOADS_BODYDIR=$run/body
	resolved=$("$BUILD/wharf" config check -c "$config" 2>"$run/config-check.err") ||
		die "Wharf refuses $config: $(cat "$run/config-check.err")"
fi

# The storage root Wharf uses, whatever set it (file, REGISTRY_*, default):
# the front's blob alias must be exactly that.
data=$(cfg storage.filesystem.rootdirectory)
# an object store: blobs are redirected or streamed, never sent from disk by
# the front; its alias points at an empty directory
[ -n "$data" ] || data=$run/no-local-storage
case $data in /*) ;; *) die "storage.filesystem.rootdirectory must be absolute, not '$data'" ;; esac
[ "$data" = / ] || data=${data%/}
mkdir -p "$data" || die "cannot create the storage root $data"

# Where the front listens: WHARF_PORT, else http.addr (http.net unix: a socket)
addr=$(cfg http.addr)
net=$(cfg http.net)
host=127.0.0.1
if [ -n "$port" ]; then
	listen=127.0.0.1:$port
elif [ "$net" = unix ]; then
	[ -n "$addr" ] || die "http.net is unix but http.addr names no socket"
	[ "$front" = nginx ] || die "FRONT=apache cannot listen on a unix socket (http.net: unix): use nginx"
	listen=unix:$addr
else
	[ -n "$addr" ] || addr=127.0.0.1:5000
	port=${addr##*:}
	case $port in '' | *[!0-9]*) die "http.addr '$addr' has no port" ;; esac
	host=${addr%:*}
	case $host in
	'') listen=$port ;; # ":5000": every interface, as with the reference
	*) listen=$addr ;;
	esac
	case $host in '' | 0.0.0.0 | '[::]') host=127.0.0.1 ;; esac
fi
scheme=http
[ -n "$tls_cert" ] && scheme=https
if [ "$net" = unix ]; then
	probe=(--unix-socket "$addr" "$scheme://localhost/v2/")
	where="unix:$addr"
else
	probe=("$scheme://$host:$port/v2/")
	where="$scheme://$host:$port"
	if (exec 3<>"/dev/tcp/${host#[}/$port") 2>/dev/null; then
		die "port $port is busy on $host (another registry?): stop it or set WHARF_PORT"
	fi
fi
prefix=$(cfg http.prefix)
prefix=${prefix%/}
# Where nginx receives upload bodies, as Wharf resolved it (default
# <rootdirectory>/wharf/body), or none: bodies stream through the workers.
bodydir=
if [ "$(cfg fastcgi.uploads.bodyfiles)" = true ]; then
	bodydir=$(cfg fastcgi.uploads.bodydir)
	case $bodydir in /*) ;; *) die "fastcgi.uploads.bodydir must be absolute, not '$bodydir'" ;; esac
	# nginx creates only the last component (and gives it to its workers)
	mkdir -p "$bodydir" || die "cannot create the upload body directory $bodydir"
fi

if [ "$(id -u)" -eq 0 ]; then
	# As root, nginx workers run as nobody: every directory above the socket
	# and the blobs must be searchable by others.
	chmod o+rx "$data" 2>/dev/null || true
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
rm -f "$sock"

nginx_err=$run/nginx-error.log
if [ "$front" = nginx ]; then
	nginxsed=()
	if [ -n "$tls_cert" ]; then
		nginxsed+=(-e "s|^\( *\)listen @LISTEN@;|\1listen @LISTEN@ ssl;\n\1ssl_certificate $tls_cert;\n\1ssl_certificate_key $tls_key;|")
	fi
	if [ "$logs" = stdio ]; then
		nginx_err=stderr
		nginxsed+=(-e "s|^error_log @RUNDIR@/nginx-error.log |error_log stderr |"
			-e "s|access_log @RUNDIR@/nginx-access.log |access_log /dev/stdout |")
	fi
	sed "${nginxsed[@]}" -e "s|@RUNDIR@|$run|g" -e "s|@LISTEN@|$listen|g" -e "s|@SOCKET@|$sock|g" \
		-e "s|@ROOT@|$data|g" nginx-conf/nginx.conf.in >"$run/nginx.conf"
	[ -z "$tls_cert" ] || grep -qF "ssl_certificate_key $tls_key;" "$run/nginx.conf" ||
		die "could not set the TLS certificate in $run/nginx.conf"
	# the upload location: bodies into $bodydir, or (no bodydir) streamed,
	# as the snippet's header tells users to edit it
	if [ -n "$bodydir" ]; then
		bodysed=(-e "s|client_body_temp_path /var/lib/registry/wharf/body;|client_body_temp_path $bodydir;|")
	else
		bodysed=(-e '/# wharf:bodyfiles$/d' -e 's|^\( *\)# \(.*# wharf:streaming\)$|\1\2|')
	fi
	sed -e "s|alias /var/lib/registry/;|alias ${data%/}/;|" \
		-e "s|/usr/share/wharf/ui|$repo/admin/ui|g" \
		-e "s|^location /v2/ {|location $prefix/v2/ {|" \
		-e "s|^location ~ \\^/v2/|location ~ ^$prefix/v2/|" \
		-e "s|^location /_wharf/api/ {|location $prefix/_wharf/api/ {|" \
		-e "s|^location /_wharf/hooks/ {|location $prefix/_wharf/hooks/ {|" \
		"${bodysed[@]}" nginx-conf/wharf-locations.conf >"$run/wharf-locations.conf"
	grep -q "alias ${data%/}/;" "$run/wharf-locations.conf" || die "could not set the storage root in $run/wharf-locations.conf"
	if [ -n "$bodydir" ]; then
		grep -q "client_body_temp_path $bodydir;" "$run/wharf-locations.conf" &&
			grep -q '^ *error_page 500 = @wharf_body_failed;' "$run/wharf-locations.conf"
	else
		grep -q '^ *fastcgi_request_buffering off; .*# wharf:streaming$' "$run/wharf-locations.conf"
	fi || die "could not set the upload body directory in $run/wharf-locations.conf"
	nginx -t -q -e "$nginx_err" -p "$run" -c "$run/nginx.conf" || die "nginx rejects $run/nginx.conf"
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
		-e "s|/usr/share/wharf/ui|$repo/admin/ui|g" \
		-e "s|^ProxyPass \"/v2/\" \"\(.*\)/v2/\"|ProxyPass \"$prefix/v2/\" \"\1$prefix/v2/\"|" \
		-e "s|^ProxyPass \"/_wharf/api/\" \"\(.*\)/_wharf/api/\"|ProxyPass \"$prefix/_wharf/api/\" \"\1$prefix/_wharf/api/\"|" \
		-e "s|^ProxyPass \"/_wharf/hooks/\" \"\(.*\)/_wharf/hooks/\"|ProxyPass \"$prefix/_wharf/hooks/\" \"\1$prefix/_wharf/hooks/\"|" \
		apache-conf/wharf-proxy.conf >"$run/wharf-proxy.conf"
	grep -q "XSendFilePath $data\$" "$run/wharf-proxy.conf" && grep -qF "unix:$sock|" "$run/wharf-proxy.conf" ||
		die "could not set the socket and storage root in $run/wharf-proxy.conf"
	cat >"$run/sites/wharf.conf" <<EOF
# Written by admin/run.sh (make run FRONT=apache).
Listen $listen
<VirtualHost *:$port>
    ServerName localhost
    Include $run/wharf-proxy.conf
</VirtualHost>
EOF
	apache2 -t -d "$run" -f "$run/httpd.conf" 2>"$run/apache-configtest.log" ||
		die "apache2 rejects $run/httpd.conf: $(cat "$run/apache-configtest.log")"
fi

wpid=
npid=
gpid=
stopping=
stop() {
	# Once: a second INT/TERM (make forwards the TERM its process group got,
	# an impatient second Ctrl-C) must not cut this routine short and leave
	# nginx and the pool running in their own sessions.
	trap '' INT TERM
	trap - EXIT
	[ -n "$stopping" ] && return
	stopping=1
	# (kill of a process that already exited fails: not an error here)
	set +e
	echo >&2
	echo "Stopping Wharf..." >&2
	# The front first, then the pool: nginx's graceful stop (QUIT) finishes
	# the requests it holds, and an upload body it is still receiving reaches
	# Wharf only once it is whole, so the pool must still accept until nginx
	# is gone (up to 10 s); then Wharf's TERM drains what it has (up to 10 s
	# more). Apache: TERM stops it at once.
	local i
	if [ -n "$npid" ]; then
		kill "-$([ "$front" = nginx ] && echo QUIT || echo TERM)" "$npid" 2>/dev/null
		for i in $(seq 1 100); do
			kill -0 "$npid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$npid" 2>/dev/null
	fi
	if [ -n "$wpid" ]; then
		kill -TERM "$wpid" 2>/dev/null
		for i in $(seq 1 100); do
			kill -0 "$wpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$wpid" 2>/dev/null
	fi
	[ -n "$gpid" ] && kill -TERM "$gpid" 2>/dev/null
	wait 2>/dev/null
	rm -f "$sock"
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

# guardian PID...: in its own session, wait for this script to end, then stop
# what it started if it is still there (this script killed with SIGKILL, or
# by a signal during start-up). Exits quietly when TERMed by stop().
guardian() {
	local me=$1
	shift
	trap 'exit 0' TERM
	while kill -0 "$me" 2>/dev/null; do sleep 0.5; done
	kill -TERM "$@" 2>/dev/null || exit 0
	sleep 5
	kill -KILL "$@" 2>/dev/null
	rm -f "$sock"
	exit 0
}

# Own sessions: Ctrl-C reaches this script only, which then stops nginx
# gracefully and gives Wharf its SIGTERM drain. The environment (REGISTRY_*)
# is inherited by wharf.
setsid "$BUILD/wharf" serve -c "$config" </dev/null &
wpid=$!
for i in $(seq 1 100); do
	[ -S "$sock" ] && break
	kill -0 "$wpid" 2>/dev/null || break
	sleep 0.1
done
[ -S "$sock" ] || { echo "make run: wharf serve did not create $sock" >&2; stop 1; }

if [ "$front" = nginx ]; then
	setsid nginx -e "$nginx_err" -p "$run" -c "$run/nginx.conf" </dev/null &
else
	setsid apache2 -d "$run" -f "$run/httpd.conf" -DFOREGROUND </dev/null &
fi
npid=$!
setsid bash -c "$(declare -f guardian); sock='$sock'; guardian $$ $wpid $npid" </dev/null >/dev/null 2>&1 &
gpid=$!
up=
for i in $(seq 1 100); do
	code=$(curl -sk -o /dev/null -m 2 -w '%{http_code}' "${probe[@]}" 2>/dev/null || true)
	case $code in 200 | 401) up=1 && break ;; esac
	kill -0 "$npid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$up" ] || { echo "make run: no answer on $where/v2/ (see $run/$([ "$front" = nginx ] && echo nginx-error.log || echo error.log))" >&2; stop 1; }

# what admin/image/healthcheck.sh asks (curl arguments, one a line)
printf '%s\n' "${probe[@]}" >"$run/probe"
echo "Upload bodies: ${bodydir:+received by $front into }${bodydir:-streamed through the workers}"
echo "Wharf is serving $where through $front (storage $data) — Ctrl-C to stop"
case $where in http*) echo "Web UI: $where/" ;; esac
# builds.sources (issue 18): the webhook URL of each, to paste into the git service
for src in $(sed -n '/^builds:/,/^[^ ]/s/^    - name: "\(.*\)"$/\1/p' <<<"$resolved"); do
	echo "Build webhook of source $src: $where/_wharf/hooks/$src"
done
# Until Ctrl-C, or until either process exits on its own.
wait -n "$wpid" "$npid" || true
echo "make run: $(kill -0 "$wpid" 2>/dev/null && echo "$front" || echo wharf) exited" >&2
stop 1
