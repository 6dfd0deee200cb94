#!/usr/bin/env bash
# tests/storage/swift.sh DRIVER_SUITE — run the driver suite's s3 part against
# a real OpenStack Swift with s3api (SigV4, multipart), started here in a temp
# dir and stopped on exit. Prints the suite's TAP; when Swift is not installed
# prints one "ok - ... # SKIP" line (admin/deps.sh test installs it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: swift.sh path/to/driver_suite}
# shellcheck source=tests/storage/swift_lib.sh
. "$here/swift_lib.sh"
if ! command -v swift-proxy-server >/dev/null 2>&1; then
	echo "ok - s3/driver_suite # SKIP swift not installed"
	exit 0
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/wharf-swift.XXXXXX")
cleanup() {
	swift_stop
	rm -rf "$d"
}
trap cleanup EXIT
if ! swift_start "$d/swift"; then
	echo "not ok - s3/swift_start"
	tail -n 20 "$d"/swift/log/*.log 2>/dev/null | sed 's/^/# /'
	exit 1
fi
if ! swift_bucket wharf-suite; then
	echo "not ok - s3/bucket_create"
	exit 1
fi
echo "ok - s3/swift_started"
WHARF_S3_ENDPOINT=$SWIFT_ENDPOINT WHARF_S3_BUCKET=wharf-suite WHARF_S3_ROOT=/suite/root \
	AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
	CMOCKA_MESSAGE_OUTPUT=TAP "$suite" s3
