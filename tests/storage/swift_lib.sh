#!/usr/bin/env bash
# tests/storage/swift_lib.sh — an OpenStack Swift all-in-one with the s3api
# middleware (SigV4, multipart, UploadPartCopy) on loopback, all state in a
# temp dir. Source it, then:
#
#   swift_start DIR     start memcached + account/container/object/proxy servers;
#                       sets SWIFT_PORT (proxy), SWIFT_ENDPOINT (http://127.0.0.1:PORT),
#                       SWIFT_MEMCACHED_PORT (where TempAuth keeps its tokens);
#                       returns non-zero when Swift is not installed or not ready
#   swift_bucket NAME   create an S3 bucket (Swift container) via Swift v1 auth
#   swift_stop          stop every process swift_start started (by PID)
#
# SWIFT_BIND_IP (default 127.0.0.1): the proxy's address, e.g. a bridge's for
# containers (t_image_swarm.sh); SWIFT_ENDPOINT then names it.
#
# S3 credentials: access key test:tester, secret testing, region us-east-1,
# path style. Ports are picked free in 20000-29999.

SWIFT_PIDS=()

swift__port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

swift_start() {
	local d=$1 kind
	command -v swift-proxy-server >/dev/null && command -v swift-ring-builder >/dev/null &&
		command -v memcached >/dev/null || return 2
	mkdir -p "$d/etc" "$d/srv/d1" "$d/run" "$d/log"
	local mc acc con obj
	mc=$(swift__port) && acc=$(swift__port) && con=$(swift__port) && obj=$(swift__port) &&
		SWIFT_PORT=$(swift__port) || return 1
	cat >"$d/etc/swift.conf" <<EOT
[swift-hash]
swift_hash_path_suffix = wharftest
swift_hash_path_prefix = wharftest
[storage-policy:0]
name = Policy-0
default = yes
EOT
	for kind in account container object; do
		local port
		case $kind in account) port=$acc ;; container) port=$con ;; object) port=$obj ;; esac
		cat >"$d/etc/$kind-server.conf" <<EOT
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
devices = $d/srv
mount_check = false
swift_dir = $d/etc
log_level = WARNING
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
EOT
		(cd "$d/etc" && swift-ring-builder "$kind.builder" create 10 1 1 >/dev/null &&
			swift-ring-builder "$kind.builder" add "r1z1-127.0.0.1:$port/d1" 100 >/dev/null &&
			swift-ring-builder "$kind.builder" rebalance >/dev/null) || return 1
	done
	cat >"$d/etc/proxy-server.conf" <<EOT
[DEFAULT]
bind_ip = ${SWIFT_BIND_IP:-127.0.0.1}
bind_port = $SWIFT_PORT
workers = 0
user = root
swift_dir = $d/etc
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache s3api tempurl tempauth slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
# authenticates, may touch nothing of the account (t_swift: a failing set-up)
user_test_nobody = nothing
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:tempurl]
use = egg:swift#tempurl
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOT
	memcached -l 127.0.0.1 -p "$mc" -U 0 -u root >"$d/log/memcached.log" 2>&1 &
	SWIFT_PIDS+=($!)
	for kind in account container object proxy; do
		"swift-$kind-server" "$d/etc/$kind-server.conf" >"$d/log/$kind.log" 2>&1 &
		SWIFT_PIDS+=($!)
	done
	SWIFT_ENDPOINT=http://${SWIFT_BIND_IP:-127.0.0.1}:$SWIFT_PORT
	SWIFT_MEMCACHED_PORT=$mc
	export SWIFT_PORT SWIFT_ENDPOINT SWIFT_MEMCACHED_PORT
	for _ in $(seq 150); do
		if [ "$(curl -s -m 2 "$SWIFT_ENDPOINT/healthcheck" 2>/dev/null)" = OK ] &&
			curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$obj/" 2>/dev/null | grep -q '^[0-9]'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

swift_bucket() {
	local tok url
	tok=$(curl -s -i -m 10 -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
		"$SWIFT_ENDPOINT/auth/v1.0" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
	url=$(curl -s -i -m 10 -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
		"$SWIFT_ENDPOINT/auth/v1.0" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-storage-url"{print $2}')
	[ -n "$tok" ] && [ -n "$url" ] || return 1
	local code
	for _ in $(seq 50); do
		code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $tok" "$url/$1")
		case $code in 201 | 202) return 0 ;; esac
		sleep 0.2
	done
	return 1
}

swift_stop() {
	local p
	for p in "${SWIFT_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SWIFT_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SWIFT_PIDS=()
}
