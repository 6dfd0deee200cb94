#!/usr/bin/env bash
# tests/storage/oss.sh DRIVER_SUITE — run the driver suite against the OSS
# driver (storage.oss) talking to tests/storage/oss_server.py, a local
# stand-in for Alibaba Cloud OSS that verifies OSS signature V1 and signed
# URLs (no OSS server runs offline). The config.yml is written here, with
# the endpoint an IP:port (path style) and secure: false. Prints the suite's
# TAP; a SKIP line when /usr/bin/python3 is missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: oss.sh path/to/driver_suite}
py=/usr/bin/python3
if [ ! -x "$py" ]; then
	echo "ok - oss/driver_suite # SKIP /usr/bin/python3 not installed"
	exit 0
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/wharf-oss.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$d"
}
trap cleanup EXIT
"$py" "$here/oss_server.py" --port-file "$d/port" --bucket wharf-suite \
	--akid LTAIwharfsuite --secret 'oss-suite/secret+key' >"$d/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -s "$d/port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if [ ! -s "$d/port" ]; then
	echo "not ok - oss/server_start"
	sed 's/^/# /' "$d/server.log"
	exit 1
fi
port=$(cat "$d/port")
echo "ok - oss/server_started"
cat >"$d/config.yml" <<EOT
version: 0.1
storage:
  oss:
    accesskeyid: LTAIwharfsuite
    accesskeysecret: 'oss-suite/secret+key'
    region: oss-cn-beijing
    endpoint: 127.0.0.1:$port
    bucket: wharf-suite
    encrypt: true
    secure: false
    chunksize: 5242880
    rootdirectory: /suite/root
EOT
CMOCKA_MESSAGE_OUTPUT=TAP WHARF_OSS_SERVER_LOG=$d/server.log "$suite" config oss "$d/config.yml"
