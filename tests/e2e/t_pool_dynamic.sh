#!/usr/bin/env bash
# t_pool_dynamic.sh — the dynamic pool (fastcgi.workers: {min, max, ...}) with
# real processes, FastCGI straight to the socket (tests/e2e/fixtures/
# fcgi_load.py; no web server, so nothing else buffers or queues):
#   - it starts at min and stays there while idle;
#   - slow uploads (bodies trickled at 2 KiB/s) make it grow so that a
#     manifest GET is served at its idle speed; it never exceeds max;
#   - a control run on a static pool of the old default size (8) shows the
#     same GETs waiting behind the same uploads (the test can fail);
#   - kill -9 of a busy worker is replaced; after idletimeout the pool
#     shrinks back to min; more slow clients than max: it stays at max and
#     warns that connections are queued;
#   - SIGHUP replaces the workers (back at min), SIGTERM lets uploads in
#     flight finish.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd "$PYTHON" pgrep); then
	t_skip "dynamic pool" "$why"
	exit 0
fi
[ -x "$WHARF_BIN" ] || { t_fail "wharf binary at $WHARF_BIN"; exit 1; }
LOAD=("$PYTHON" "$E2E_DIR/fixtures/fcgi_load.py")
D=$TMP/pool
mkdir -p "$D/data"
SOCK=$D/wharf.sock
LOG=$D/wharf.log
DYN='{min: 2, max: 12, minspare: 1, maxspare: 2, idletimeout: 2s}'

# conf WORKERS: the config with fastcgi.workers set to WORKERS
conf() {
	cat >"$D/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $D/data
http:
  draintimeout: 15s
fastcgi:
  listen: unix:$SOCK
  workers: $1
  logfile: $LOG
EOF
}
workers() { pgrep -P "$M" | sort -n; }
nworkers() { pgrep -c -P "$M"; }
count_is() { [ "$(nworkers)" -eq "$1" ]; }
# get_ms: the slowest of 8 manifest GETs, in ms (empty when one failed)
get_max() {
	local out
	out=$("${LOAD[@]}" "$SOCK" get /v2/t/app/manifests/v1 --count 8 --timeout 40 2>>"$D/get.err") ||
		return 1
	sed -n 's/.* max=\([0-9]*\)$/\1/p' <<<"$out"
}
# slow N SECONDS NAME: N trickled uploads in the background; waits until all
# have sent body bytes. Sets SLOW_PID.
slow() {
	rm -f "$D/$3.started"
	"${LOAD[@]}" "$SOCK" slow "$1" --seconds "$2" --rate 2048 --started "$D/$3.started" \
		>"$D/$3.out" 2>"$D/$3.err" &
	SLOW_PID=$!
	wait_for 30 test -e "$D/$3.started"
}
# sample_max SECONDS: the most workers seen, polling every 0.1 s
sample_max() {
	local n=$(($1 * 10)) most=0 c
	while [ "$n" -gt 0 ]; do
		c=$(nworkers)
		[ "$c" -gt "$most" ] && most=$c
		sleep 0.1
		n=$((n - 1))
	done
	echo "$most"
}

conf "$DYN"
check "config check prints the dynamic pool" grep -q '^    maxspare: 2$' \
	<("$WHARF_BIN" config check -c "$D/config.yml")
"$WHARF_BIN" serve -c "$D/config.yml" 2>"$D/stderr.log" </dev/null &
M=$!
track_pid "$M"
wait_for 10 test -S "$SOCK" || { t_fail "wharf serve starts" "$(tail -n 20 "$LOG")"; exit 1; }
check "starts at min (2 workers)" wait_for 10 count_is 2
sleep 1
check_eq "stays at min while idle" 2 "$(nworkers)"
check "push an image over FastCGI" "${LOAD[@]}" "$SOCK" push t/app v1

idle=$(get_max)
diag "manifest GET, idle pool: slowest of 8 ${idle} ms"
[ -n "$idle" ] || { t_fail "manifest GETs on the idle pool" "$(tail -n 5 "$D/get.err")"; exit 1; }
limit=$((idle + 1000))

# ---- control: a static pool of the old default (8) starves ------------------------
conf 8
kill -HUP "$M"
check "SIGHUP to a static pool of 8" wait_for 10 count_is 8
slow 8 8 ctl || t_fail "control: 8 slow uploads started" "$(tail -n 5 "$D/ctl.err")"
sleep 0.5
t=$(get_max)
diag "static pool of 8 with 8 slow uploads: slowest GET ${t:-failed} ms"
check "control: on a static pool of 8 the GETs wait behind 8 slow uploads (> ${limit} ms)" \
	test "${t:-99999}" -gt "$limit"
wait "$SLOW_PID"

# ---- the dynamic pool grows ----------------------------------------------------------
conf "$DYN"
kill -HUP "$M"
check "SIGHUP back to the dynamic pool: min again" wait_for 15 count_is 2
slow 8 8 dyn || t_fail "8 slow uploads started" "$(tail -n 5 "$D/dyn.err")"
sleep 0.5
t=$(get_max)
diag "dynamic pool with 8 slow uploads: slowest GET ${t:-failed} ms, $(nworkers) workers"
check "dynamic pool: manifest GETs stay fast while 8 uploads trickle (${t:-failed} < ${limit} ms)" \
	test -n "$t" -a "${t:-99999}" -lt "$limit"
check "the pool grew past the 8 busy workers" test "$(nworkers)" -ge 9
check "growth is logged with busy/idle/queued" grep -qE 'pool: grew to [0-9]+ workers .*busy [0-9]+, idle [0-9]+, starting [0-9]+, queued [0-9]+' "$LOG"

# kill -9 of a busy worker (one with an accepted connection besides the listener)
victim=
for p in $(workers); do
	[ "$(find "/proc/$p/fd" -lname 'socket:*' 2>/dev/null | wc -l)" -ge 2 ] && victim=$p && break
done
if [ -n "$victim" ]; then
	kill -KILL "$victim"
	check "a busy worker killed by -9 is reaped and logged" \
		wait_for 5 grep -q "worker $victim killed by signal 9" "$LOG"
	# the pool keeps minspare idle workers: one more request still finds one
	t=$(get_max)
	check "after the kill, GETs still find an idle worker (${t:-failed} < ${limit} ms)" \
		test -n "$t" -a "${t:-99999}" -lt "$limit"
else
	t_fail "found a busy worker to kill"
fi
wait "$SLOW_PID"
out=$(cat "$D/dyn.out")
check "the other slow uploads complete ($out)" grep -qE 'ok=(7|8) fail=(0|1)' "$D/dyn.out"

check "after idletimeout the pool shrinks back to min" wait_for 20 count_is 2
check "shrinking is logged" grep -q 'pool: shrank to' "$LOG"
# at min, a worker killed by -9 is replaced at once
victim=$(workers | head -n 1)
kill -KILL "$victim"
replaced() { ! workers | grep -qx "$victim" && count_is 2; }
check "at min, a worker killed by -9 is replaced" wait_for 5 replaced

# ---- more slow clients than max ------------------------------------------------------
slow 16 5 max || t_fail "16 slow uploads started" "$(tail -n 5 "$D/max.err")"
most=$(sample_max 3)
check_eq "16 slow uploads: the pool stops at max (12)" 12 "$most"
check "at max with a queue: a warning" wait_for 3 grep -q 'pool: all 12 workers busy .* queued' "$LOG"
wait "$SLOW_PID"
check "queued uploads are served once workers free up ($(cat "$D/max.out"))" \
	grep -q 'ok=16 fail=0' "$D/max.out"

# ---- SIGTERM with uploads in flight --------------------------------------------------
slow 3 3 term || t_fail "3 slow uploads started"
t0=$(date +%s)
kill -TERM "$M"
wait "$SLOW_PID"
check "SIGTERM: uploads in flight complete ($(cat "$D/term.out"))" grep -q 'ok=3 fail=0' "$D/term.out"
wait "$M"
rc=$?
check_eq "SIGTERM: the master exits 0" 0 "$rc"
check "SIGTERM: drained without waiting for the timeout" test $(($(date +%s) - t0)) -lt 12
check "no worker crashed" bash -c "! grep -qE 'killed by signal (4|6|7|8|11) ' '$LOG'"
e2e_done
