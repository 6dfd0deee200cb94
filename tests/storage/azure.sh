#!/usr/bin/env bash
# tests/storage/azure.sh DRIVER_SUITE — run the driver suite's azure part
# (every BOTH and OBJ_ONLY case, and url_for_sas) against azurite, started
# here in a temp dir and stopped on exit, through a config.yml's
# storage.azure section opened as the registry opens it. Prints the suite's
# TAP; when azurite is not installed prints one "ok - ... # SKIP" line
# (admin/deps.sh test installs it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: azure.sh path/to/driver_suite}
# shellcheck source=tests/storage/azure_lib.sh
. "$here/azure_lib.sh"
if ! azurite_bin >/dev/null; then
	echo "ok - azure/driver_suite # SKIP azurite not installed"
	exit 0
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/wharf-azure.XXXXXX")
cleanup() {
	azure_stop
	rm -rf "$d"
}
trap cleanup EXIT
if ! azure_start "$d/azurite"; then
	echo "not ok - azure/azure_start"
	tail -n 20 "$d/azurite/azurite.log" 2>/dev/null | sed 's/^/# /'
	exit 1
fi
echo "ok - azure/azure_started"
# the container does not exist yet: the driver creates it, as the reference
cat >"$d/config.yml" <<EOT
version: 0.1
storage:
  azure:
    accountname: $AZURE_ACCOUNT
    accountkey: $AZURE_KEY
    container: wharf-suite
    serviceurl: $AZURE_SERVICEURL
    rootdirectory: /suite/root
EOT
CMOCKA_MESSAGE_OUTPUT=TAP "$suite" config azure "$d/config.yml"
