#!/usr/bin/env bash
# t_pool.sh — end-to-end lifecycle of the `wharf serve` FastCGI pool: requests,
# respawn after kill -9, SIGHUP with a broken and a good config, max requests,
# graceful SIGTERM with a slow upload in flight, spawn-fcgi (fd 0) modes and
# plain CGI. Talks FastCGI with tests/e2e/fixtures/fcgi_load.py.
# Uses ${BUILD:-build}/wharf; builds nothing. Prints TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
WHARF=$(cd "$BUILD" 2>/dev/null && pwd)/wharf
fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { # check NAME CMD...: ok when CMD succeeds (its output is discarded)
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; fi
}
if [ ! -x "$WHARF" ]; then
    nok "pool: $WHARF exists (build first)"
    exit 1
fi
command -v python3 >/dev/null || { nok "pool: python3 available"; exit 1; }

T=$(mktemp -d /tmp/wharf-pool.XXXXXX)
cleanup() {
    local p
    # only this shell's own background jobs, and spawn-fcgi's children if still wharf
    for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -f "$T/sf2.pids" ]; then
        while read -r p || [ -n "$p" ]; do
            [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$WHARF" ] && kill -KILL "$p"
        done <"$T/sf2.pids"
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# fcgi SOCK METHOD URI [--body N] [--slow S] [--started F] [--upload] [-H H]:
# one FastCGI request, response on stdout (tests/e2e/fixtures/fcgi_load.py req)
fcgi() { timeout 60 python3 tests/e2e/fixtures/fcgi_load.py "$1" req "${@:2}"; }
# get_v2 SOCK: a GET /v2/ answers 200 with the API version header
get_v2() {
    local r
    r=$(fcgi "$1" GET /v2/ 2>/dev/null | tr -d '\r')
    grep -q '^Status: 200' <<<"$r" || ! grep -q '^Status:' <<<"$r" || return 1
    grep -qi '^Docker-Distribution-API-Version: registry/2.0' <<<"$r"
}
workers_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | sort -n; }
# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
    local n=$(($1 * 10))
    shift
    while [ $n -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
count_is() { [ "$(workers_of "$1" | wc -l)" -eq "$2" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
# dead PID: gone, or a zombie (spawn-fcgi's children are reparented to a pid 1
# that may not reap them)
dead() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

SOCK=$T/wharf.sock
write_conf() { # write_conf FILE WORKERS [MAXREQ] [SOCK]
    cat >"$1" <<YML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $T/data
  delete:
    enabled: true
http:
  draintimeout: 15s
fastcgi:
  listen: unix:${4:-$SOCK}
  socketmode: "0660"
  workers: $2
  maxrequests: ${3:-0}
  pidfile: $T/wharf.pid
  logfile: $T/wharf.log
YML
}
CONF=$T/config.yml
write_conf "$CONF" 3

check "pool: config check accepts the test config" "$WHARF" config check -c "$CONF"
echo "storage: {filesystem: {rootdirectory: $T/data}, nosuchkey: 1}" >"$T/bad.yml"
out=$("$WHARF" config check -c "$T/bad.yml" 2>&1 >/dev/null)
rc=$?
check "pool: config check rejects a bad config with exit 1 and a message" \
    test "$rc" -eq 1 -a -n "$out"

# ---- start the pool ------------------------------------------------------
"$WHARF" serve -c "$CONF" 2>"$T/stderr.log" &
M=$!
if wait_for 10 test -S "$SOCK" && wait_for 10 count_is "$M" 3; then
    ok "pool: starts 3 workers and creates the socket"
else
    nok "pool: starts 3 workers and creates the socket"
fi
check "pool: socket mode is 0660" test "$(stat -c %a "$SOCK" 2>/dev/null)" = 660
check "pool: pidfile holds the master pid" test "$(cat "$T/wharf.pid" 2>/dev/null)" = "$M"
check "pool: GET /v2/ answers 200 with Docker-Distribution-API-Version" get_v2 "$SOCK"
# libcurl (and the ~28 libraries it pulls in) is loaded only by configurations
# that need it (S3, pull-through cache): a filesystem pool maps none of it
no_curl() {
    local p
    for p in "$M" $(workers_of "$M"); do
        [ -r "/proc/$p/maps" ] || return 1
        ! grep -q 'libcurl' "/proc/$p/maps" || return 1
    done
}
check "pool: a filesystem registry does not load libcurl (master and workers)" no_curl

# a body the handler never reads must not break the next request
r1=$(fcgi "$SOCK" GET /v2/ --body 1000000 | tr -d '\r')
ok1=0
for _ in 1 2 3 4 5 6; do get_v2 "$SOCK" || ok1=1; done
check "pool: unread request body does not break later requests" \
    test -n "$r1" -a "$ok1" -eq 0

# ---- kill -9 one worker --------------------------------------------------
before=$(workers_of "$M")
victim=$(head -n1 <<<"$before")
kill -KILL "$victim"
replaced() {
    local now
    now=$(workers_of "$M")
    [ "$(wc -l <<<"$now")" -eq 3 ] && ! grep -qx "$victim" <<<"$now"
}
check "pool: a killed worker is replaced" wait_for 5 replaced
check "pool: requests work after a worker was killed" get_v2 "$SOCK"
check "pool: the killed worker is logged with its signal" \
    grep -q "worker $victim killed by signal 9" "$T/wharf.log"

# ---- SIGHUP with a broken config ----------------------------------------
before=$(workers_of "$M")
cp "$CONF" "$T/good.yml"
printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nfastcgi: {workers: many}\n' \
    "$T/data" >"$CONF"
kill -HUP "$M"
sleep 1
check "pool: SIGHUP with a broken config logs the error" grep -q "reload: .*workers" "$T/wharf.log"
check "pool: SIGHUP with a broken config keeps the workers" test "$(workers_of "$M")" = "$before"
check "pool: still serving after a broken reload" get_v2 "$SOCK"

# ---- SIGHUP with a good config (2 workers) ------------------------------
write_conf "$CONF" 2
kill -HUP "$M"
all_new() {
    local now
    now=$(workers_of "$M")
    [ "$(wc -l <<<"$now")" -eq 2 ] || return 1
    [ -z "$(comm -12 <(echo "$before") <(echo "$now"))" ]
}
check "pool: SIGHUP with a good config replaces every worker" wait_for 10 all_new
check "pool: serving after a good reload" get_v2 "$SOCK"

# ---- a reload while connections are accepted but their request not yet read:
# libfcgi waits (select) for a connection's first bytes and dropped it when a
# signal cut that wait (the old generation's SIGTERM): nginx answered 502
silent_then_reload() {
    /usr/bin/python3 - "$SOCK" "$M" <<'PY'
import os, signal, sys, time
sys.path.insert(0, "tests/e2e/fixtures")
import fcgi
sock, master = sys.argv[1], int(sys.argv[2])
conns = [fcgi.connect(sock, 10) for _ in range(2)]  # one per worker, nothing sent
time.sleep(0.5)                                       # both accepted, waiting for bytes
os.kill(master, signal.SIGHUP)
time.sleep(0.5)                                       # the old workers told to stop
ok = 0
for s in conns:
    p = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/v2/", "SCRIPT_NAME": "/v2/",
         "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "5000",
         "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(fcgi.nv(k.encode(), v.encode()) for k, v in p.items())
    try:
        s.sendall(fcgi.rec(fcgi.BEGIN, 1, b"\x00\x01\x00\x00\x00\x00\x00\x00") +
                  fcgi.rec(fcgi.PARAMS, 1, body) + fcgi.rec(fcgi.PARAMS, 1))
        r = fcgi.finish(s)
    except OSError:
        r = b""
    ok += b"registry/2.0" in r
print(ok)
sys.exit(0 if ok == 2 else 1)
PY
}
check "pool: a reload does not drop connections accepted but not yet read" silent_then_reload
before=$(workers_of "$M")

# ---- SIGHUP that moves the socket ---------------------------------------
SOCK2=$T/wharf2.sock
write_conf "$CONF" 2 0 "$SOCK2"
kill -HUP "$M"
check "pool: SIGHUP with a new listen address opens it" wait_for 5 test -S "$SOCK2"
check "pool: the old socket is removed" wait_for 5 test ! -e "$SOCK"
check "pool: serving on the new socket" get_v2 "$SOCK2"
write_conf "$CONF" 3
kill -HUP "$M"
wait_for 5 test -S "$SOCK"

# ---- slow uploads do not starve small requests; SIGTERM lets them finish --
wait_for 5 count_is "$M" 3
# the same GET on an idle pool: what the client itself costs (a python start,
# seconds on a loaded machine), so that only the wait for a worker is judged
i0=$(date +%s%N)
get_v2 "$SOCK"
i1=$(date +%s%N)
idle_ms=$(((i1 - i0) / 1000000))
rm -f "$T/started" "$T/started2"
fcgi "$SOCK" POST /v2/t/pool/blobs/uploads/ --upload --body 300000 --slow 3 \
    --started "$T/started" >"$T/slow.out" 2>"$T/slow.err" &
C=$!
fcgi "$SOCK" POST /v2/t/pool/blobs/uploads/ --upload --body 200000 --slow 3 \
    --started "$T/started2" >"$T/slow2.out" 2>"$T/slow2.err" &
C2=$!
wait_for 10 test -e "$T/started" -a -e "$T/started2"
sleep 0.3
g0=$(date +%s%N)
get_v2 "$SOCK"
grc=$?
g1=$(date +%s%N)
busy_ms=$(((g1 - g0) / 1000000))
echo "# GET /v2/: ${idle_ms} ms on the idle pool, ${busy_ms} ms with two slow uploads (status $grc)"
check "pool: GET /v2/ answers within 1s (over its idle time) while two slow uploads hold two workers" \
    test "$grc" -eq 0 -a "$busy_ms" -lt $((idle_ms + 1000))
sleep 0.3
t0=$(date +%s)
kill -TERM "$M"
check "pool: the socket disappears at once on SIGTERM" wait_for 2 test ! -e "$SOCK"
wait "$C"
crc=$?
wait "$C2"
crc=$((crc + $?))
wait "$M"
mrc=$?
t1=$(date +%s)
check "pool: a slow upload in flight during SIGTERM completes (201)" \
    grep -q '^Status: 201' <(tr -d '\r' <"$T/slow.out")
check "pool: a second upload in flight during SIGTERM completes (201)" \
    grep -q '^Status: 201' <(tr -d '\r' <"$T/slow2.out")
check "pool: master exits 0 after the drain" test "$mrc" -eq 0 -a "$crc" -eq 0
check "pool: drain did not wait for the timeout" test $((t1 - t0)) -lt 10
check "pool: pidfile removed" test ! -e "$T/wharf.pid"
check "pool: no worker left behind" test -z "$(workers_of "$M")"

# ---- idle SIGTERM exits at once; maxrequests recycles --------------------
write_conf "$CONF" 1 3
"$WHARF" serve "$CONF" 2>>"$T/stderr.log" &
M=$!
wait_for 10 count_is "$M" 1
w1=$(workers_of "$M")
for _ in 1 2 3; do get_v2 "$SOCK" >/dev/null; done
recycled() {
    local now
    now=$(workers_of "$M")
    [ -n "$now" ] && [ "$now" != "$w1" ]
}
check "pool: a worker is replaced after maxrequests (positional config)" wait_for 5 recycled
check "pool: serving after recycling" get_v2 "$SOCK"
t0=$(date +%s%N)
kill -TERM "$M"
wait "$M"
mrc=$?
t1=$(date +%s%N)
check "pool: idle pool exits 0 within 2s of SIGTERM" \
    test "$mrc" -eq 0 -a $(((t1 - t0) / 1000000)) -lt 2000
check "pool: unix socket removed on exit" test ! -e "$SOCK"

# ---- a live socket is not stolen, a stale one is replaced ----------------
write_conf "$CONF" 1
"$WHARF" serve -c "$CONF" 2>>"$T/stderr.log" &
M=$!
wait_for 10 test -S "$SOCK"
"$WHARF" serve -c "$CONF" 2>"$T/second.log" &
M2=$!
wait_for 5 dead "$M2"
wait "$M2"
rc=$?
check "pool: a second pool on a live socket fails to start" test "$rc" -ne 0
check "pool: the first pool still serves" get_v2 "$SOCK"
kill -KILL "$M"
wait "$M" 2>/dev/null
wait_for 5 count_is "$M" 0
"$WHARF" serve -c "$CONF" 2>>"$T/stderr.log" &
M=$!
check "pool: starts over a stale socket file" wait_for 10 get_v2 "$SOCK"
kill -TERM "$M"
wait "$M"

# ---- spawn-fcgi: socket on fd 0 -----------------------------------------
if command -v spawn-fcgi >/dev/null; then
    SF=$T/sf.sock
    spawn-fcgi -s "$SF" -n -- "$WHARF" serve -c "$CONF" 2>>"$T/stderr.log" &
    S=$!
    check "spawn-fcgi -n: serves on the inherited socket" wait_for 10 get_v2 "$SF"
    check "spawn-fcgi -n: a single process (no children)" count_is "$S" 0
    for _ in 1 2 3; do get_v2 "$SF" >/dev/null; done
    kill -TERM "$S"
    wait "$S"
    check "spawn-fcgi -n: exits 0 on SIGTERM" test $? -eq 0
    rm -f "$SF"

    spawn-fcgi -s "$SF" -n -- "$WHARF" serve --prefork -c "$CONF" 2>>"$T/stderr.log" &
    S=$!
    check "spawn-fcgi -n --prefork: a pool on the inherited socket" wait_for 10 get_v2 "$SF"
    check "spawn-fcgi -n --prefork: workers forked" count_is "$S" 1
    kill -TERM "$S"
    wait "$S"
    check "spawn-fcgi -n --prefork: exits 0 on SIGTERM" test $? -eq 0
    rm -f "$SF"

    WHARF_CONFIG=$CONF spawn-fcgi -s "$SF" -F 2 -P "$T/sf2.pids" -- "$WHARF" \
        >/dev/null 2>>"$T/stderr.log"
    check "spawn-fcgi -F 2 (no subcommand): serves" wait_for 10 get_v2 "$SF"
    ok2=0
    for _ in 1 2 3 4; do get_v2 "$SF" || ok2=1; done
    check "spawn-fcgi -F 2: repeated requests" test "$ok2" -eq 0
    if [ -f "$T/sf2.pids" ]; then
        while read -r p || [ -n "$p" ]; do kill -TERM "$p" 2>/dev/null; done <"$T/sf2.pids"
        gone=1
        while read -r p || [ -n "$p" ]; do wait_for 5 dead "$p" || gone=0; done <"$T/sf2.pids"
        check "spawn-fcgi -F 2: processes exit on SIGTERM" test "$gone" -eq 1
    fi
else
    echo "# spawn-fcgi not installed: skipped"
fi

# ---- plain CGI -----------------------------------------------------------
cgi_out=$(env -i PATH="$PATH" WHARF_CONFIG="$CONF" GATEWAY_INTERFACE=CGI/1.1 \
    REQUEST_METHOD=GET REQUEST_URI=/v2/ QUERY_STRING= SERVER_NAME=localhost SERVER_PORT=80 \
    SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 "$WHARF" </dev/null 2>"$T/cgi.err" | tr -d '\r')
rc=$?
check "cgi: prints a Status line" grep -q '^Status: 200' <<<"$cgi_out"
check "cgi: prints the API version header" \
    grep -qi '^Docker-Distribution-API-Version: registry/2.0' <<<"$cgi_out"
cgi_bad=$(env -i PATH="$PATH" WHARF_CONFIG="$T/bad.yml" GATEWAY_INTERFACE=CGI/1.1 \
    REQUEST_METHOD=GET REQUEST_URI=/v2/ "$WHARF" </dev/null 2>"$T/cgi.err" | tr -d '\r')
check "cgi: a bad config answers 500 and logs the reason" \
    test -n "$(grep '^Status: 500' <<<"$cgi_bad")" -a -s "$T/cgi.err"
body=wharf-cgi-body
dg=sha256:$(printf %s "$body" | sha256sum | cut -d' ' -f1)
cgi_up=$(printf '%sTRAILING-GARBAGE' "$body" | env -i PATH="$PATH" WHARF_CONFIG="$CONF" \
    GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST CONTENT_LENGTH=${#body} \
    CONTENT_TYPE=application/octet-stream HTTP_HOST=localhost \
    REQUEST_URI="/v2/t/cgi/blobs/uploads/?digest=$dg" "$WHARF" 2>>"$T/cgi.err" | tr -d '\r')
check "cgi: a POST body is read up to CONTENT_LENGTH (monolithic upload 201)" \
    grep -q '^Status: 201' <<<"$cgi_up"
"$WHARF" nosuch >/dev/null 2>&1
check "cli: unknown command exits 2" test $? -eq 2
check "cli: --version" "$WHARF" --version

if [ "$fails" -ne 0 ]; then
    echo "# wharf.log:"
    sed 's/^/# /' "$T/wharf.log" 2>/dev/null | tail -40
    sed 's/^/# /' "$T/stderr.log" 2>/dev/null | tail -20
fi
[ "$fails" -eq 0 ]
