#!/usr/bin/env bash
# The debug server and its Prometheus metrics (http.debug, docs/metrics.md):
# Wharf with 4 workers and http.debug.addr on its own port; skopeo pushes
# and pulls an image, curl sends N requests in parallel; the scrape's
# registry_http_requests_total must equal, in total and per status code,
# what nginx logged for the requests it passed to Wharf (every worker's
# numbers summed, none lost); promtool accepts the exposition; /debug/vars
# is JSON with the pool; the public site (the shipped nginx snippet) answers
# /metrics and /debug/vars with 404; a stalled client does not block a
# scrape; the Grafana dashboard parses and uses only metrics we export.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx skopeo); then
	t_skip "metrics" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "metrics" "Wharf's debug server"; exit 0; }

DPORT=$(free_port) || { t_fail "a free port"; exit 1; }
D=http://127.0.0.1:$DPORT
export REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:$DPORT
export REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED=true
WHARF_E2E_WORKERS=4 wharf_start || { t_fail "registry starts"; exit 1; }
unset REGISTRY_HTTP_DEBUG_ADDR REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED
U=$W_URL

check "config check prints http.debug" \
	grep -q "addr: \"127.0.0.1:$DPORT\"" <(REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:$DPORT "$WHARF_BIN" config check -c "$W_DIR/config.yml")
wait_for 10 curl -sf -o /dev/null "$D/debug/vars" || t_fail "debug server answers" "$(tail -n 5 "$W_DIR/wharf.log")"

scrape() { curl -sf --max-time 5 "$D/metrics"; }
# msum FILE REGEX: the sum of the samples whose line matches REGEX
msum() { awk -v re="$2" '$0 !~ /^#/ && $0 ~ re { s += $NF } END { printf "%d\n", s }' "$1"; }
# nginx_count [STATUS]: requests nginx passed to Wharf (/v2/, the token path)
nginx_count() {
	awk -v st="${1:-}" '$7 ~ /^\/(v2\/|v2$|auth\/token)/ && (st == "" || $9 == st) { n++ } END { print n + 0 }' \
		"$W_DIR/nginx-access.log"
}
# agree: the scrape's totals equal nginx's counts (all, 200, 201, 202, 404)
agree() {
	scrape >"$TMP/m.txt" || return 1
	[ "$(msum "$TMP/m.txt" '^registry_http_requests_total')" = "$(nginx_count)" ] || return 1
	local c
	for c in 200 201 202 404; do
		[ "$(msum "$TMP/m.txt" "^registry_http_requests_total[{].*code=\"$c\"")" = "$(nginx_count $c)" ] || return 1
	done
}

# ---- N requests from 8 clients at once, spread over the 4 workers
N=60
seq "$N" | xargs -P 8 -I{} curl -s -o /dev/null "$U/v2/" || true
req GET "$U/v2/nothere/manifests/latest"
check_eq "a 404 for an unknown manifest" 404 "$ST"
if wait_for 5 agree; then
	t_ok "requests_total sums every worker's requests: $(msum "$TMP/m.txt" '^registry_http_requests_total') = nginx's count"
else
	t_fail "requests_total sums every worker's requests" \
		"scrape: $(msum "$TMP/m.txt" '^registry_http_requests_total'), nginx: $(nginx_count)"
fi
base=$(msum "$TMP/m.txt" '^registry_http_requests_total[{]code="200",handler="base",method="GET"')
check "GET /v2/ counted under handler=\"base\" (>= $N)" test "$base" -ge "$N"

# ---- a real client: push and pull
mkimage "$TMP/src" --tag v1 --layers 3 --size 300000 --seed metrics >/dev/null
check "skopeo push" skopeo_copy oci:"$TMP/src":v1 "docker://$W_HOST/m/img:v1" --preserve-digests
check "skopeo pull" skopeo_copy "docker://$W_HOST/m/img:v1" oci:"$TMP/back":v1 --preserve-digests
if wait_for 5 agree; then
	t_ok "after push and pull, totals and per-code counts equal nginx's"
else
	t_fail "after push and pull, totals and per-code counts equal nginx's" \
		"scrape: $(msum "$TMP/m.txt" '^registry_http_requests_total'), nginx: $(nginx_count)"
fi
check_eq "one manifest PUT answered 201" 1 \
	"$(msum "$TMP/m.txt" '^registry_http_requests_total[{]code="201",handler="manifest",method="PUT"')"
check_eq "uploads completed = blobs pushed (3 layers + config)" 4 "$(msum "$TMP/m.txt" '^wharf_uploads_completed_total ')"
check_eq "nothing in flight after the clients are done" 0 "$(msum "$TMP/m.txt" '^registry_http_in_flight_requests')"
check_eq "no upload in progress" 0 "$(msum "$TMP/m.txt" '^wharf_uploads_in_progress ')"
rx=$(msum "$TMP/m.txt" '^wharf_http_received_bytes_total ')
check "bytes received cover the pushed layers (>= 900000): $rx" test "$rx" -ge 900000
tx=$(msum "$TMP/m.txt" '^wharf_http_sent_bytes_total ')
check "bytes sent cover the pulled layers (>= 900000): $tx" test "$tx" -ge 900000
check "histogram count = requests for GET base" test \
	"$(msum "$TMP/m.txt" '^registry_http_request_duration_seconds_count[{]handler="base",method="GET"')" = \
	"$(msum "$TMP/m.txt" '^registry_http_requests_total[{].*handler="base",method="GET"')"
check "storage actions timed (filesystem Stat)" \
	grep -q '^registry_storage_action_seconds_count{action="Stat",driver="filesystem"} [1-9]' "$TMP/m.txt"
check "pool gauges: 4 workers" test \
	"$(msum "$TMP/m.txt" '^wharf_pool_workers[{]state="(busy|idle|starting)"')" = 4
check "response sizes recorded for blob GETs" \
	grep -q '^registry_http_response_size_bytes_count{handler="blob"} [1-9]' "$TMP/m.txt"

# ---- promtool
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts the exposition" promtool check metrics <"$TMP/m.txt"
else
	t_skip "promtool check metrics" "promtool missing (Debian package prometheus)"
fi

# ---- /debug/vars, methods, limits
req GET "$D/debug/vars"
check_eq "/debug/vars: 200" 200 "$ST"
check "/debug/vars: JSON with version and pool" jq -e '.wharf.version and (.pool.idle + .pool.busy + .pool.starting == 4) and .registry.requests > 0' "$BODY"
exec 8<>"/dev/tcp/127.0.0.1/$DPORT"
printf 'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&8
timeout 5 cat <&8 >"$TMP/head.raw"
exec 8>&-
check_eq "HEAD /metrics: 200, headers only" "HTTP/1.1 200 OK|0" \
	"$(head -n 1 "$TMP/head.raw" | tr -d '\r')|$(awk 'b { n += length($0) + 1 } /^\r?$/ { b = 1 } END { print n + 0 }' "$TMP/head.raw")"
req GET "$D/metrics"
check "Content-Type of the exposition" grep -qi '^content-type: text/plain; version=0.0.4' "$HDRS"
req POST "$D/metrics"
check_eq "POST /metrics: 405" 405 "$ST"
req GET "$D/nothere"
check_eq "an unknown page: 404" 404 "$ST"
req GET "$D/metrics" -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)"
check_eq "a request head over 8 KiB: 431" 431 "$ST"
# a client that connects and says nothing holds one slot, not the server
exec 7<>"/dev/tcp/127.0.0.1/$DPORT"
printf 'GET /metrics HTTP/1.1\r\n' >&7
t0=$(date +%s%N)
check "a scrape while a client stalls" scrape
t1=$(date +%s%N)
check "it is not delayed by the stalled client ($(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 2000
exec 7>&-

# ---- the public site does not expose the debug server
req GET "$U/metrics"
check_eq "GET /metrics through nginx: 404" 404 "$ST"
req GET "$U/debug/vars"
check_eq "GET /debug/vars through nginx: 404" 404 "$ST"
check "the shipped nginx and Apache files never proxy /debug or /metrics" \
	bash -c "! grep -nE '^[^#]*(location|Proxy|Location)[^#]*(/debug|/metrics)' '$REPO'/nginx-conf/*.conf '$REPO'/apache-conf/*.conf"

# ---- the Grafana dashboard: valid JSON, every expression on exported metrics
DASH=$REPO/docs/grafana/wharf-dashboard.json
check "dashboard is valid JSON" jq -e '.panels | length > 0' "$DASH"
awk '/^# TYPE/ { print $3 }' "$TMP/m.txt" | sort -u >"$TMP/exported"
jq -r '.. | objects | .expr? // empty' "$DASH" | grep -oE '\b(registry|wharf)_[a-z_]+' |
	sed -E 's/_(bucket|sum|count)$//' | sort -u >"$TMP/used"
missing=$(comm -23 "$TMP/used" "$TMP/exported")
check "dashboard uses $(wc -l <"$TMP/used") metrics, all exported" test -z "$missing" -a -s "$TMP/used"
[ -n "$missing" ] && diag "not exported: $missing"

wharf_stop
e2e_done
