#!/usr/bin/env bash
# tests/storage/gcs.sh DRIVER_SUITE — run the driver suite against the gcs
# driver, opened from a config.yml (storage.gcs) exactly as the registry
# opens it, talking to tests/storage/gcs_server.py (an in-memory GCS JSON API
# written for these tests: no GCS emulator runs offline) through
# STORAGE_EMULATOR_HOST. A fresh RSA key is the service account's; the server
# verifies the JWTs it signs. Tokens die after 4 s on the server (while the
# answer says an hour): the driver must fetch a new one on 401. Pages of 7
# entries, rewrites of 1 MiB a call, and every 5th resumable chunk broken
# halfway exercise pagination, the rewriteToken loop and the session status
# query. Prints TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: gcs.sh path/to/driver_suite}
py=/usr/bin/python3
if ! [ -x "$py" ] || ! command -v openssl >/dev/null 2>&1; then
	echo "ok - gcs/driver_suite # SKIP /usr/bin/python3 or openssl missing"
	exit 0
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/wharf-gcs.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/key.pem" 2>/dev/null &&
	openssl pkey -in "$d/key.pem" -pubout -out "$d/pub.pem" 2>/dev/null || {
	echo "not ok - gcs/keygen"
	exit 1
}
email=wharf-suite@wharf-test.iam.gserviceaccount.com
"$py" "$here/gcs_server.py" --port-file "$d/port" --pubkey "$d/pub.pem" --email "$email" \
	--page-size 7 --token-life 4 --rewrite-chunk 1048576 --flaky 5 2>"$d/server.log" &
pid=$!
for _ in $(seq 100); do
	[ -s "$d/port" ] && break
	sleep 0.05
done
if ! [ -s "$d/port" ]; then
	echo "not ok - gcs/server_start"
	sed 's/^/# /' "$d/server.log"
	exit 1
fi
port=$(cat "$d/port")
echo "ok - gcs/server_started"
"$py" - "$d/key.pem" "$email" "http://127.0.0.1:$port/token" >"$d/account.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "wharf-test",
                  "private_key_id": "0" * 40, "private_key": open(sys.argv[1]).read(),
                  "client_email": sys.argv[2], "client_id": "1", "token_uri": sys.argv[3]}))
PY
cat >"$d/config.yml" <<YML
version: 0.1
storage:
  gcs:
    bucket: wharf-suite
    keyfile: $d/account.json
    rootdirectory: /suite/root
    chunksize: 524288
YML
STORAGE_EMULATOR_HOST=127.0.0.1:$port CMOCKA_MESSAGE_OUTPUT=TAP "$suite" config gcs "$d/config.yml"
rc=$?
# the token exchange is really checked: a key the server does not know gets
# no token, and the registry's own command fails on it; the account's key works
wharf=$(dirname "$suite")/../wharf
if [ -x "$wharf" ]; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/other.pem" 2>/dev/null
	"$py" - "$d/other.pem" "$email" "http://127.0.0.1:$port/token" >"$d/other.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "private_key": open(sys.argv[1]).read(),
                  "client_email": sys.argv[2], "token_uri": sys.argv[3]}))
PY
	sed "s|keyfile: .*|keyfile: $d/other.json|" "$d/config.yml" >"$d/other.yml"
	if STORAGE_EMULATOR_HOST=127.0.0.1:$port "$wharf" catalog rebuild -c "$d/other.yml" --dry-run \
		>"$d/other.log" 2>&1; then
		echo "not ok - gcs/unknown_key_refused (catalog rebuild succeeded)"
		rc=1
	elif grep -q 'the token request failed (HTTP 400)' "$d/other.log"; then
		echo "ok - gcs/unknown_key_refused"
	else
		echo "not ok - gcs/unknown_key_refused (not by the token endpoint)"
		sed 's/^/# /' "$d/other.log"
		rc=1
	fi
	if STORAGE_EMULATOR_HOST=127.0.0.1:$port "$wharf" catalog rebuild -c "$d/config.yml" --dry-run \
		>"$d/good.log" 2>&1; then
		echo "ok - gcs/account_key_accepted"
	else
		echo "not ok - gcs/account_key_accepted"
		sed 's/^/# /' "$d/good.log"
		rc=1
	fi
	# the other ways to give the key: GOOGLE_APPLICATION_CREDENTIALS, and
	# credentials inline as a mapping (the config loader makes it JSON)
	grep -v 'keyfile:' "$d/config.yml" >"$d/adc.yml"
	if GOOGLE_APPLICATION_CREDENTIALS=$d/account.json STORAGE_EMULATOR_HOST=127.0.0.1:$port \
		"$wharf" catalog rebuild -c "$d/adc.yml" --dry-run >"$d/adc.log" 2>&1; then
		echo "ok - gcs/google_application_credentials"
	else
		echo "not ok - gcs/google_application_credentials"
		sed 's/^/# /' "$d/adc.log"
		rc=1
	fi
	"$py" - "$d/account.json" "$d/adc.yml" >"$d/inline.yml" <<'PY'
import json, sys
acct = json.load(open(sys.argv[1]))
for line in open(sys.argv[2]):
    sys.stdout.write(line)
    if line.strip() == "gcs:":
        print("    credentials:")
        for k, v in acct.items():
            print("      %s: %s" % (k, json.dumps(v)))
PY
	if STORAGE_EMULATOR_HOST=127.0.0.1:$port "$wharf" catalog rebuild -c "$d/inline.yml" --dry-run \
		>"$d/inline.log" 2>&1; then
		echo "ok - gcs/credentials_inline"
	else
		echo "not ok - gcs/credentials_inline"
		sed 's/^/# /' "$d/inline.log"
		rc=1
	fi
fi
# the paths the options above provoke were taken (each names what a run
# without the feature would not show)
stats=$(curl -s "http://127.0.0.1:$port/_stats")
echo "# server: $stats"
# (compose: 3 at least, the cascade of 33 segments is 2 calls, the move 1)
for km in tokens:1 401:1 pages:1 rewrite_tokens:1 broken_chunks:1 status_queries:1 compose:3 \
	sessions:1 signed_urls:1; do
	k=${km%%:*} min=${km#*:}
	n=$(printf '%s' "$stats" | "$py" -c "import json,sys; print(json.load(sys.stdin).get('$k', 0))")
	if [ "${n:-0}" -ge "$min" ] 2>/dev/null; then
		echo "ok - gcs/server_saw_$k ($n)"
	else
		echo "not ok - gcs/server_saw_$k (${n:-?} < $min)"
		rc=1
	fi
done
[ $rc -ne 0 ] && tail -n 30 "$d/server.log" | sed 's/^/# /'
exit $rc
