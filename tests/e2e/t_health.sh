#!/usr/bin/env bash
# t_health.sh — the reference's health checks (issue 14) through real nginx:
# while a check fails, /v2/ answers 503 with the reference's body (compared
# byte for byte with docker-registry 2.8.2's for the same health.file check),
# and 200 again once it passes. One check kind per stage, each configured by
# a reload (SIGHUP) of the same pool:
#   file           touching the file drains the node, removing it brings it back
#   tcp            a closed port, then one that listens
#   http           a local server answering 500, then 200 (headers checked)
#   storagedriver  the storage root made unusable (a file in its place as
#                  root, chmod 000 otherwise), then restored
# The reference's /debug/health is checked when the build serves it (the
# debug server of http.debug.addr); skipped otherwise.
source "$(dirname "$0")/lib.sh"
e2e_init

if [ "$E2E_TARGET" = reference ]; then
	t_skip "health checks" "reloads Wharf's pool; the reference is run side by side below"
	e2e_done
	exit
fi
if ! m=$(need_cmd nginx curl); then
	t_skip "health checks" "$m"
	e2e_done
	exit
fi

WANT_BODY='{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":"health check failed: please see /debug/health"}]}'

v2_status() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$W_URL/v2/"; }
is_status() { [ "$(v2_status)" = "$1" ]; }
# reconfigure STANZA: the base config plus STANZA (YAML text), then a reload
reconfigure() {
	{
		cat "$TMP/base.yml"
		printf '%s\n' "$1"
	} >"$W_DIR/config.yml"
	"$WHARF_BIN" config check -c "$W_DIR/config.yml" >"$TMP/check.out" 2>&1 || {
		diag "config check failed:" "$(cat "$TMP/check.out")"
		return 1
	}
	kill -HUP "$W_PID"
}

wharf_start || {
	t_fail "wharf starts"
	e2e_done
	exit
}
cp "$W_DIR/config.yml" "$TMP/base.yml"
check_eq "/v2/ answers 200 with no health check" 200 "$(v2_status)"

# ---- the debug server's /debug/health, when this build has it ----------------
DBG_PORT=$(free_port)
sed "s/^http:\$/http:\n  debug:\n    addr: 127.0.0.1:$DBG_PORT/" "$TMP/base.yml" >"$TMP/base-dbg.yml"
if "$WHARF_BIN" config check -c "$TMP/base-dbg.yml" >/dev/null 2>&1; then
	cp "$TMP/base-dbg.yml" "$TMP/base.yml"
	DEBUG_URL=http://127.0.0.1:$DBG_PORT/debug/health
else
	DEBUG_URL=
fi
# debug_health WANT_STATUS WANT_BODY: /debug/health answers so (skipped
# without a debug server, or when it has no /debug/health route)
debug_health() {
	local what=$1 want_status=$2 want_body=$3 got code
	if [ -z "$DEBUG_URL" ]; then
		t_skip "/debug/health: $what" "no http.debug in this build"
		return
	fi
	code=$(curl -s -o "$TMP/dbg.body" -m 5 -w '%{http_code}' "$DEBUG_URL")
	if [ "$code" = 404 ] || [ "$code" = 000 ]; then
		t_skip "/debug/health: $what" "no /debug/health route ($code)"
		return
	fi
	got=$(cat "$TMP/dbg.body")
	check_eq "/debug/health: $what (status)" "$want_status" "$code"
	check_eq "/debug/health: $what (body)" "$want_body" "$got"
}

# ---- file: the drain file ----------------------------------------------------
DRAIN=$TMP/drain
reconfigure "health:
  file:
    - file: $DRAIN
      interval: 200ms" || t_fail "health.file accepted by config check"
wait_for 10 is_status 200
check_eq "health.file: /v2/ 200 while the file is absent" 200 "$(v2_status)"
debug_health "every check passes" 200 "{}"
touch "$DRAIN"
wait_for 10 is_status 503
curl -s -D "$TMP/h503" -o "$TMP/b503" -m 5 "$W_URL/v2/"
check_eq "health.file: touching the file makes /v2/ 503" 503 "$(v2_status)"
check_eq "the 503's body is the reference's" "$WANT_BODY" "$(cat "$TMP/b503")"
check_eq "503 also for any /v2/ route" 503 \
	"$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$W_URL/v2/some/repo/manifests/latest")"
check "the 503 is JSON, without Docker-Distribution-API-Version (as the reference)" \
	bash -c "grep -qi '^content-type: application/json; charset=utf-8' '$TMP/h503' &&
		! grep -qi '^docker-distribution-api-version' '$TMP/h503'"
debug_health "the drain file" 503 "{\"$DRAIN\":\"file exists\"}"
rm -f "$DRAIN"
wait_for 10 is_status 200
check_eq "health.file: removing the file brings /v2/ back" 200 "$(v2_status)"

# ---- the reference's answer to the same check, side by side -------------------
if command -v docker-registry >/dev/null; then
	rdir=$TMP/ref
	mkdir -p "$rdir/root"
	rport=$(free_port)
	refreg_config "$rdir/config.yml" "$rdir/root" "$rport"
	printf 'health:\n  file:\n    - file: %s\n      interval: 200ms\n' "$TMP/ref-drain" >>"$rdir/config.yml"
	env -u AWS_CA_BUNDLE docker-registry serve "$rdir/config.yml" >"$rdir/registry.log" 2>&1 </dev/null &
	rpid=$!
	track_pid "$rpid"
	if wait_http "http://127.0.0.1:$rport/v2/" "$rpid" 20; then
		touch "$TMP/ref-drain"
		ref_503() { [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$rport/v2/")" = 503 ]; }
		wait_for 10 ref_503
		curl -s -D "$rdir/h" -o "$rdir/b" -m 5 "http://127.0.0.1:$rport/v2/"
		check "the 503's body is byte-identical to docker-registry 2.8.2's" cmp "$rdir/b" "$TMP/b503"
	else
		t_fail "the reference registry starts" "$(tail -n 5 "$rdir/registry.log")"
	fi
	stop_pid "$rpid" 5
else
	t_skip "the 503's body is byte-identical to docker-registry 2.8.2's" "no docker-registry"
fi

# ---- tcp: a closed port, then an open one --------------------------------------
TPORT=$(free_port)
reconfigure "health:
  tcp:
    - addr: 127.0.0.1:$TPORT
      timeout: 500ms
      interval: 200ms
      threshold: 2" || t_fail "health.tcp accepted by config check"
wait_for 10 is_status 503
check_eq "health.tcp: a closed port makes /v2/ 503" 503 "$(v2_status)"
debug_health "the closed port" 503 "{\"127.0.0.1:$TPORT\":\"connection to 127.0.0.1:$TPORT failed\"}"
"$PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$TPORT" >/dev/null 2>&1 &
tpid=$!
track_pid "$tpid"
wait_for 10 is_status 200
check_eq "health.tcp: the port listening brings /v2/ back" 200 "$(v2_status)"
stop_pid "$tpid" 5

# ---- http: 500, then 200 ---------------------------------------------------------
HPORT=$(free_port)
echo 500 >"$TMP/hstatus"
"$PYTHON" "$E2E_DIR/fixtures/health_http.py" "$HPORT" "$TMP/hstatus" X-Check yes >"$TMP/hhttp.log" 2>&1 &
hpid=$!
track_pid "$hpid"
wait_for 10 port_busy "$HPORT"
reconfigure "health:
  http:
    - uri: http://127.0.0.1:$HPORT/health
      headers:
        X-Check: [yes]
      statuscode: 200
      timeout: 1s
      interval: 200ms" || t_fail "health.http accepted by config check"
wait_for 10 is_status 503
check_eq "health.http: a 500 from the checked URI makes /v2/ 503" 503 "$(v2_status)"
debug_health "the 500" 503 \
	"{\"http://127.0.0.1:$HPORT/health\":\"downstream service returned unexpected status: 500\"}"
echo 200 >"$TMP/hstatus"
wait_for 10 is_status 200
check_eq "health.http: a 200 brings /v2/ back (the configured header sent)" 200 "$(v2_status)"
check "the http check sends HEAD requests" grep -qx HEAD "$TMP/hstatus.log"
stop_pid "$hpid" 5

# ---- storagedriver: the root made unusable -----------------------------------------
reconfigure "health:
  storagedriver:
    enabled: true
    interval: 200ms
    threshold: 2" || t_fail "health.storagedriver accepted by config check"
wait_for 10 is_status 200
check_eq "health.storagedriver: a usable root: /v2/ 200" 200 "$(v2_status)"
if [ "$(id -u)" = 0 ]; then
	# root reads anything whatever its mode: put a file in the root's place
	how="a file in the root's place"
	mv "$W_ROOT" "$W_ROOT.away" && touch "$W_ROOT"
	restore() { rm -f "$W_ROOT" && mv "$W_ROOT.away" "$W_ROOT"; }
else
	how="the root unreadable (chmod 000)"
	chmod 000 "$W_ROOT"
	restore() { chmod 755 "$W_ROOT"; }
fi
at_exit "[ -e '$W_ROOT.away' ] && rm -f '$W_ROOT' && mv '$W_ROOT.away' '$W_ROOT'; chmod 755 '$W_ROOT'"
wait_for 10 is_status 503
check_eq "health.storagedriver: $how makes /v2/ 503" 503 "$(v2_status)"
check "the failure is logged with the check's name" \
	grep -q 'health: storagedriver_filesystem: failing: filesystem: ' "$W_DIR/wharf.log"
restore
wait_for 10 is_status 200
check_eq "health.storagedriver: the root restored brings /v2/ back" 200 "$(v2_status)"

# ---- checks removed by a reload: the gate goes with them -----------------------
reconfigure "health:
  file:
    - file: $DRAIN
      interval: 200ms" || t_fail "health.file accepted again"
touch "$DRAIN"
wait_for 10 is_status 503
check_eq "drained again" 503 "$(v2_status)"
cp "$TMP/base.yml" "$W_DIR/config.yml"
kill -HUP "$W_PID"
wait_for 10 is_status 200
check_eq "a reload without health checks un-drains the node (drain file still there)" 200 "$(v2_status)"
debug_health "no check configured" 200 "{}"

wharf_stop
e2e_done
