#!/usr/bin/env bash
# tests/bench/catalog.sh — the repository index (issue 17) against the
# reference registry (docker-registry 2.8.2), results for
# tests/bench/RESULTS-catalog.md. On one filesystem root written straight in
# the store layout (tests/e2e/fixtures/catalog_fill.py: one tag per
# repository), served by nginx + wharf serve (indexed by `wharf catalog
# rebuild`, timed) and by the reference registry, direct and behind nginx:
#   2,000 repositories: /v2/_catalog in pages of 100 (listing.py's walk),
#                       and Wharf's list and search
#   10,000 repositories: the same
# Env: REPEAT (5), OUT (tests/bench/results/catalog-<time>), BENCH_DIR.
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init
REPEAT=${REPEAT:-5}
export BENCH_DIR=${BENCH_DIR:-$REPO/../shared/bench}
[ -f "$BENCH_DIR/listing.py" ] || BENCH_DIR=/work/shared/bench
OUT=${OUT:-$REPO/tests/bench/results/catalog-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$OUT")"
export WHARF_E2E_LOGLEVEL=warn

for N in 2000 10000; do
	root=$TMP/root$N
	t0=$EPOCHREALTIME
	"$PYTHON" "$E2E_DIR/fixtures/catalog_fill.py" "$root" "$N" --prefix bench/cat/r
	echo "# $N repositories written in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s" >&2
	wharf_start "$root" || exit 1
	t0=$EPOCHREALTIME
	"$WHARF_BIN" catalog rebuild -c "$W_DIR/config.yml" >&2 || exit 1
	echo "# wharf catalog rebuild of $N repositories: $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }") s" >&2
	wharf=$W_URL
	refreg_start "$TMP/ref$N" "$root" || exit 1
	ref=http://$R_HOST
	mkdir -p "$TMP/refng$N"
	port=$(free_port)
	nginx_render_proxy "$TMP/refng$N" "127.0.0.1:$port" "$R_HOST"
	nginx_start "$TMP/refng$N" || exit 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || exit 1
	"$PYTHON" "$REPO/tests/bench/catalog.py" --out "$OUT-$N" --repeat "$REPEAT" --expect "$N" \
		wharf-nginx="$wharf" ref-direct="$ref" ref-nginx="http://127.0.0.1:$port" || exit 1
	stop_pid "$NGINX_PID" 5
	refreg_stop
	wharf_stop
done
echo "results: $OUT-2000.md $OUT-10000.md" >&2
