#!/usr/bin/env bash
# tests/storage/swift_native.sh DRIVER_SUITE — the driver suite against the
# swift driver (Swift's native API) on a real OpenStack Swift all-in-one
# started here in a temp dir (tests/storage/swift_lib.sh): once with TempAuth
# (auth v1, TempURL key set by the driver, url_for), once with Keystone v3
# through keystone_standin.py (a stand-in that checks the password body and
# hands out TempAuth tokens with a catalog), whose tokens the test revokes
# (memcached flush) to see the driver authenticate again. Prints TAP; one
# "ok - ... # SKIP" line when Swift is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: swift_native.sh path/to/driver_suite}
# shellcheck source=tests/storage/swift_lib.sh
. "$here/swift_lib.sh"
if ! command -v swift-proxy-server >/dev/null 2>&1 || [ ! -x /usr/bin/python3 ]; then
	echo "ok - swift/driver_suite # SKIP swift not installed"
	exit 0
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/wharf-swiftn.XXXXXX")
KS_PID=
cleanup() {
	[ -n "$KS_PID" ] && kill "$KS_PID" 2>/dev/null && wait "$KS_PID" 2>/dev/null
	swift_stop
	rm -rf "$d"
}
trap cleanup EXIT
if ! swift_start "$d/swift"; then
	echo "not ok - swift/swift_start"
	tail -n 20 "$d"/swift/log/*.log 2>/dev/null | sed 's/^/# /'
	exit 1
fi
echo "ok - swift/swift_started"
fails=0
# the container is not created here: the driver creates it at its first request
cat >"$d/v1.yml" <<EOT
version: 0.1
storage:
  swift:
    authurl: $SWIFT_ENDPOINT/auth/v1.0
    username: test:tester
    password: testing
    container: wharf-native
    prefix: /suite/root
    secretkey: suite-tempurl-key
    chunksize: 5242880
EOT
# a TempAuth token lives in memcached: flushing it revokes every token
revoke="exec 3<>/dev/tcp/127.0.0.1/$SWIFT_MEMCACHED_PORT; printf 'flush_all\r\n' >&3; read -r -t 5 l <&3"
WHARF_SWIFT_REVOKE=$revoke CMOCKA_MESSAGE_OUTPUT=TAP "$suite" config swift "$d/v1.yml" ||
	fails=$((fails + 1))

# Keystone v3 through the stand-in
ksport=$(swift__port)
/usr/bin/python3 "$here/keystone_standin.py" "$ksport" "$SWIFT_ENDPOINT" "$d/ks.log" \
	>"$d/ks.out" 2>&1 &
KS_PID=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$ksport") 2>/dev/null && break
	sleep 0.1
done
cat >"$d/v3.yml" <<EOT
version: 0.1
storage:
  swift:
    authurl: http://127.0.0.1:$ksport/v3
    username: tester
    password: testing
    domain: Default
    tenant: test
    tenantdomain: Default
    region: RegionOne
    container: wharf-native-v3
    chunksize: 5242880
EOT
WHARF_SWIFT_AUTHLOG=$d/ks.log WHARF_SWIFT_REVOKE=$revoke CMOCKA_MESSAGE_OUTPUT=TAP "$suite" config swift "$d/v3.yml" || fails=$((fails + 1))
exit "$fails"
