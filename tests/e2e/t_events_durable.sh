#!/usr/bin/env bash
# Notifications that survive (issue 14, docs/notifications-delivery.md): the
# events wait in the node's queue while the endpoint is down, the whole pool
# is killed -9 and restarted, the endpoint comes back: every event arrives,
# in order, once; a dead second endpoint never holds the first one back;
# two nodes on one storage root, each with its own queue directory, both
# deliver; `wharf notify --once` delivers where no pool runs the sender.
#
# Events are appended to the journal here, in the journal's format and with
# its locking (lib/evqueue.h), as a worker does: this test is about the
# queue and the sender, not about which requests raise events.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx python3); then
	t_skip "durable notifications" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "durable notifications" "the reference's queue is in memory (lost on a restart)"
	exit 0
fi

SINK_PORT=$(free_port)
DEAD_PORT=$(free_port)
OUT=$TMP/sink.out
QDIR=$TMP/q1 # the queue directory of the next wharf_start
NODE=node1

# every wharf_start config gets the notifications section
eval "$(declare -f wharf_config | sed '1s/wharf_config/base_wharf_config/')"
wharf_config() {
	base_wharf_config "$@"
	cat >>"$1" <<EOF
notifications:
  queue:
    directory: $QDIR
  endpoints:
    - name: sink
      url: http://127.0.0.1:$SINK_PORT/$NODE
      timeout: 500ms
      threshold: 3
      backoff: 300ms
      headers:
        X-Test: [durable]
    - name: dead
      url: http://127.0.0.1:$DEAD_PORT/
      timeout: 200ms
      threshold: 2
      backoff: 1s
EOF
}

# evappend DIR PREFIX FROM TO: events PREFIX<FROM>..PREFIX<TO>, one record
# each, appended as lib/evqueue.h says a writer does
evappend() {
	python3 - "$@" <<'EOF'
import fcntl, json, os, sys
d, prefix, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(d, 0o750, exist_ok=True)
for i in range(a, b + 1):
    ev = {"id": "%s%d" % (prefix, i), "timestamp": "2026-01-01T00:00:00Z", "action": "push",
          "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "repository": "durable/app", "tag": "v%d" % i, "digest": "sha256:%064d" % i}}
    rec = (json.dumps(ev, separators=(",", ":")) + "\n").encode()
    p = os.path.join(d, "current.log")
    while True:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            same = os.fstat(fd).st_ino == os.stat(p).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.write(fd, rec)
            os.close(fd)
            break
        os.close(fd)
EOF
}

# received PATH: the event ids the sink got on PATH, in arrival order
received() {
	[ -f "$OUT" ] || return 0
	python3 - "$OUT" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == sys.argv[2]:
        for e in json.loads(r["body"])["events"]:
            print(e["id"])
EOF
}
seq_ids() { for i in $(seq "$2" "$3"); do echo "$1$i"; done; }
count_is() { [ "$(received "$1" | wc -l)" -ge "$2" ]; }

sink_start() {
	python3 "$E2E_DIR/fixtures/notify_sink.py" "$SINK_PORT" "$OUT" >"$TMP/sink.port" 2>"$TMP/sink.log" &
	SINK_PID=$!
	track_pid "$SINK_PID"
	wait_for 10 port_busy "$SINK_PORT"
}

# ---- node 1, endpoint down ----------------------------------------------------
wharf_start || { t_fail "registry starts"; exit 1; }
ROOT=$W_ROOT
wait_for 10 pgrep -P "$W_PID" >/dev/null
evappend "$QDIR" e 1 20
wait_for 10 grep -q 'failures in a row' "$W_DIR/wharf.log"
t_result "the sender retries a dead endpoint, then backs off" $? "$(tail -n 5 "$W_DIR/wharf.log")"
[ ! -s "$OUT" ] && ls "$QDIR" | grep -qE '^[0-9]{20}\.log$'
t_result "endpoint down: the events wait in the queue" $? "$(ls -l "$QDIR")"

# ---- kill -9 of the whole pool, more events, restart -----------------------------
evappend "$QDIR" e 21 30
kids=$(pgrep -P "$W_PID" | tr '\n' ' ')
kill -9 "$W_PID" $kids 2>/dev/null
stop_pid "$W_NGINX_PID" 5
wait "$W_PID" 2>/dev/null
# gone, or a zombie nobody reaped yet
all_dead() {
	local p st
	for p in "$@"; do
		st=$(ps -o stat= -p "$p" 2>/dev/null) || continue
		case $st in Z*) ;; *) return 1 ;; esac
	done
}
wait_for 5 all_dead $W_PID $kids
t_result "the pool (master and children: $kids) killed -9" $?
rm -f "$W_SOCK"
wharf_start "$ROOT" || { t_fail "registry restarts"; exit 1; }
N1_DIR=$W_DIR N1_PID=$W_PID N1_NGINX=$W_NGINX_PID
sink_start
t_result "the sink is up" $?
wait_for 20 count_is /node1 30
got=$(received /node1)
check_eq "after kill -9 and restart: all 30 events arrived, in order, once" \
	"$(seq_ids e 1 30)" "$got"
grep -q '"Content-Type": "application/vnd.docker.distribution.events.v1+json"' "$OUT" &&
	grep -q '"X-Test": "durable"' "$OUT"
t_result "POSTs carry the reference's Content-Type and the configured headers" $?

# ---- live delivery while the second endpoint is still dead ----------------------
evappend "$QDIR" e 31 35
wait_for 10 count_is /node1 35
check_eq "new events delivered while another endpoint stays dead" \
	"$(seq_ids e 1 35)" "$(received /node1)"
[ -f "$QDIR/sink.cursor" ] && [ -f "$QDIR/dead.cursor" ] || [ -f "$QDIR/sink.cursor" ]
t_result "the endpoint's cursor is on disk" $?

# ---- a second node on the same storage root, its own queue ----------------------
QDIR=$TMP/q2 NODE=node2 wharf_start "$ROOT" || { t_fail "second node starts"; exit 1; }
N2_DIR=$W_DIR
evappend "$TMP/q2" n 1 10
evappend "$TMP/q1" e 36 40
wait_for 20 count_is /node2 10 && wait_for 10 count_is /node1 40
check_eq "node 2 delivers its own queue" "$(seq_ids n 1 10)" "$(received /node2)"
check_eq "node 1 still delivers its own" "$(seq_ids e 1 40)" "$(received /node1)"
wharf_stop

# ---- kill -9 while delivering: at least once, in order ----------------------------
evappend "$TMP/q1" e 41 240
wait_for 20 count_is /node1 80
kids=$(pgrep -P "$N1_PID" | tr '\n' ' ')
kill -9 "$N1_PID" $kids 2>/dev/null
stop_pid "$N1_NGINX" 5
wait "$N1_PID" 2>/dev/null
wait_for 5 all_dead $N1_PID $kids
at_kill=$(received /node1 | wc -l)
rm -f "$N1_DIR/wharf.sock"
wharf_start "$ROOT" || { t_fail "registry restarts after the second kill"; exit 1; }
N1_DIR=$W_DIR N1_PID=$W_PID N1_NGINX=$W_NGINX_PID
uniq_is() { [ "$(received /node1 | sort -u | wc -l)" -ge "$1" ]; }
wait_for 30 uniq_is 240
first=$(received /node1 | awk '!seen[$0]++')
check_eq "killed -9 mid-delivery (after $at_kill events): every event arrives, in order" \
	"$(seq_ids e 1 240)" "$first"
diag "events sent twice: $(($(received /node1 | wc -l) - 240))"

# ---- SIGTERM: the sender stops cleanly ----------------------------------------
W_DIR=$N1_DIR W_PID=$N1_PID W_NGINX_PID=$N1_NGINX
wharf_stop
grep -q 'notifications: signal 15, stopping' "$N1_DIR/wharf.log"
t_result "on the pool's SIGTERM the sender stops cleanly" $? "$(grep -i notif "$N1_DIR/wharf.log" | tail -n 5)"

# ---- wharf notify --once (no pool) -------------------------------------------
cat >"$TMP/once.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $ROOT
notifications:
  queue:
    directory: $TMP/q3
  endpoints:
    - name: sink
      url: http://127.0.0.1:$SINK_PORT/once
EOF
evappend "$TMP/q3" o 1 5
"$WHARF_BIN" notify -c "$TMP/once.yml" --once >"$TMP/once.log" 2>&1
rc=$?
check_eq "wharf notify --once delivers the queue and exits 0" "$(seq_ids o 1 5)/0" "$(received /once)/$rc"
ls "$TMP/q3" | grep -qE '^[0-9]{20}\.log$|^current\.log$'
t_result "segments every endpoint passed are deleted" $((1 - $?)) "$(ls -l "$TMP/q3")"
"$WHARF_BIN" notify -c "$TMP/once.yml" --once >>"$TMP/once.log" 2>&1
check_eq "a second run sends nothing again" "$(seq_ids o 1 5)" "$(received /once)"

e2e_done
