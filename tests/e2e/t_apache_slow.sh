#!/usr/bin/env bash
# t_apache_slow.sh — slow and stalled clients through Apache
# (apache-conf/httpd.conf.in + wharf-proxy.conf, as shipped) in front of
# `wharf serve` with the default fastcgi.workers (the dynamic pool):
#   - 48 uploads trickling at 2 KiB/s (the issue's test) hold Apache threads
#     and, mod_proxy_fcgi streaming their bodies, Wharf workers: the pool
#     grows past them and manifest GETs through Apache stay at their idle
#     speed, none fails;
#   - a client that stops sending its body is cut by mod_reqtimeout
#     (RequestReadTimeout body=20,MinRate=500) and its worker is freed.
source "$(dirname "$0")/apache_lib.sh"
e2e_init

if ! why=$(need_cmd apache2 curl pgrep); then
	t_skip "Apache slow clients" "$why"
	exit 0
fi
for m in proxy_fcgi xsendfile reqtimeout; do
	[ -e "/usr/lib/apache2/modules/mod_$m.so" ] || { t_skip "Apache slow clients" "no mod_$m"; exit 0; }
done
HS=("$PYTHON" "$E2E_DIR/fixtures/http_slow.py")
LOAD=("$PYTHON" "$E2E_DIR/fixtures/fcgi_load.py")

# the default pool: a mapping with no keys takes every default (docs/pool.md)
# (WHARF_APACHE_SLOW_WORKERS=8: the old static default, to see this test fail)
WHARF_E2E_WORKERS=${WHARF_APACHE_SLOW_WORKERS:-'{}'} pool_start "$TMP/wharf" "$TMP/data" apache ||
	{ t_fail "wharf serve starts"; exit 1; }
M=$W_PID
check "the default configuration is a dynamic pool" \
	grep -q 'dynamic pool of 4\.\.64 workers' "$W_DIR/wharf.log"
HP=$(free_port) || { t_fail "free port"; exit 1; }
A=$TMP/apache
apache_render "$A"
apache_proxy_render "$A" "$W_SOCK" "$W_ROOT" || { t_fail "render wharf-proxy.conf"; exit 1; }
cat >"$A/sites/wharf.conf" <<EOF
Listen 127.0.0.1:$HP
<VirtualHost *:$HP>
    ServerName localhost
    Include $A/wharf-proxy.conf
</VirtualHost>
EOF
apache_start "$A" || { t_fail "Apache accepts httpd.conf.in + wharf-proxy.conf"; exit 1; }
H=127.0.0.1:$HP
wait_http "http://$H/v2/" "$APACHE_PID" 20 || { t_fail "Apache answers" "$(tail -n 5 "$A/error.log")"; exit 1; }
t_ok "Apache serves wharf-proxy.conf with RequestReadTimeout"

check "push an image (FastCGI)" "${LOAD[@]}" "$W_SOCK" push t/app v1
MAN=/v2/t/app/manifests/v1
get_max() {
	local out
	out=$("${HS[@]}" "$H" get "$MAN" --count "${1:-10}" --timeout 40 2>>"$TMP/get.err") || return 1
	sed -n 's/.* max=\([0-9]*\)$/\1/p' <<<"$out"
}
nworkers() { pgrep -c -P "$M"; }
# busy: workers holding a connection besides the listening socket
busy() {
	local p n=0
	for p in $(pgrep -P "$M"); do
		[ "$(find "/proc/$p/fd" -lname 'socket:*' 2>/dev/null | wc -l)" -ge 2 ] && n=$((n + 1))
	done
	echo "$n"
}
idle=$(get_max 10)
diag "manifest GET through Apache, idle: slowest of 10 ${idle:-failed} ms; $(nworkers) workers"
[ -n "$idle" ] || { t_fail "manifest GETs through Apache" "$(tail -n 5 "$TMP/get.err")"; exit 1; }
limit=$((idle + 1000))

# ---- 48 slow uploads -----------------------------------------------------------------
"${HS[@]}" "$H" slow 48 --seconds 12 --started "$TMP/slow.started" >"$TMP/slow.out" 2>"$TMP/slow.err" &
S=$!
wait_for 30 test -e "$TMP/slow.started" || t_fail "48 slow uploads started" "$(tail -n 5 "$TMP/slow.err")"
sleep 1
b=$(busy)
diag "48 slow uploads through Apache: $b workers hold a connection, $(nworkers) workers"
check "mod_proxy_fcgi streams: the slow uploads hold Wharf workers ($b busy)" test "$b" -ge 40
t=$(get_max 20)
diag "manifest GET through Apache with 48 slow uploads: slowest of 20 ${t:-failed} ms"
check "48 slow uploads: 20 manifest GETs through Apache answer, none fails, slowest ${t:-failed} < ${limit} ms" \
	test -n "$t" -a "${t:-99999}" -lt "$limit"
n=$(nworkers)
check "the pool grew past the slow uploads, within max ($n workers)" test "$n" -gt 48 -a "$n" -le 64
wait "$S"
check "the 48 slow uploads (2 KiB/s, above MinRate) are not cut: all 202 ($(cat "$TMP/slow.out"))" \
	grep -q 'ok=48 fail=0' "$TMP/slow.out"

# ---- a stalled upload ----------------------------------------------------------------------
none_busy() { [ "$(busy)" -eq 0 ]; }
check "the pool is idle again (no worker holds a connection)" wait_for 20 none_busy
"${HS[@]}" "$H" stall --send 1024 --max-wait 90 --started "$TMP/stall.started" \
	>"$TMP/stall.out" 2>"$TMP/stall.err" &
S=$!
wait_for 20 test -e "$TMP/stall.started"
sleep 1
check "a stalled upload holds a worker while it is not cut" test "$(busy)" -ge 1
wait "$S"
src=$?
out=$(cat "$TMP/stall.out")
diag "$out"
secs=$(sed -n 's/^stall: cut after \([0-9]*\) s.*/\1/p' <<<"$out")
# body=20,MinRate=500 after 1 KiB: 20 s + 2 s
check "mod_reqtimeout cuts the stalled upload after ~22 s ($out)" \
	test "$src" -eq 0 -a -n "$secs" -a "${secs:-0}" -ge 15 -a "${secs:-99}" -le 40
check "Apache logs the cut as 408" grep -qE '"PATCH /v2/t/stall/blobs/uploads/[^"]*" 408 ' "$A/access.log"
check "the stalled upload's worker is freed" wait_for 10 none_busy
pool_log_clean
e2e_done
