#!/usr/bin/env bash
# make bench — Wharf (nginx + wharf serve, as `make run` starts it, on
# 127.0.0.1:5000 with fresh storage) side by side with the reference registry
# 2.8.2 (direct and behind nginx) and this machine's limits, using the shared
# harness (BENCH_DIR, default ../shared/bench beside this checkout).
# Results: tests/bench/results/<run>.{md,jsonl}; summarise them in RESULTS.md.
# At the end it prints issue 12's upload/download comparisons (ratios.py:
# wharf vs the reference behind nginx, download vs nginx sendfile).
# The pool is `make run`'s default; WHARF_WORKERS=N passes N to make run
# (a static pool of N). Extra arguments go to bench.py, e.g. `--only blobs`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
[ -x "$bench/run-reference.sh" ] || {
	echo "make bench: no harness at $bench (set BENCH_DIR)" >&2
	exit 1
}
for t in wrk hey; do
	command -v $t >/dev/null || { echo "make bench: installing $t" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $t >/dev/null; }
done
port=${WHARF_PORT:-5000}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "make bench: 127.0.0.1:$port is busy: stop what listens there (another make run?)" >&2
	exit 1
fi
scratch=$(mktemp -d /tmp/bench-w-XXXXXX)
chmod 755 "$scratch"
# (WHARF_WORKERS, when set, reaches admin/run.sh through the environment)
WHARF_PORT=$port WHARF_RUNDIR=$scratch/run WHARF_DATA=$scratch/data WHARF_LOGLEVEL=warn \
	"$repo/admin/run.sh" >"$scratch/run.log" 2>&1 &
runpid=$!
cleanup() {
	# TERM, not INT: a background job of a script ignores SIGINT
	kill -TERM "$runpid" 2>/dev/null || true
	wait "$runpid" 2>/dev/null || true
	rm -rf "$scratch"
}
trap cleanup EXIT
for _ in $(seq 100); do
	kill -0 "$runpid" 2>/dev/null || { cat "$scratch/run.log"; exit 1; }
	curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$scratch/run.log"; exit 1; }
# the RSS pattern names this instance's config: other Wharf pools on the
# machine (a test run, make run) must not be summed into the pool's memory
mkdir -p "$repo/tests/bench/results"
out=$repo/tests/bench/results/wharf-$(date -u +%Y%m%d-%H%M%S)
cd "$bench"
REF_DIRECT_PORT=${REF_DIRECT_PORT:-5090} REF_BACKEND_PORT=${REF_BACKEND_PORT:-5091} \
	REF_PROXY_PORT=${REF_PROXY_PORT:-5092} BENCH_OUT=$out \
	./run-reference.sh --target "wharf=http://127.0.0.1:$port" \
	--rss-pattern "wharf=[w]harf serve -c $scratch/run/config\\.yml" "$@"
echo "results: $out.md" >&2
[ -s "$out.jsonl" ] && python3 "$repo/tests/bench/ratios.py" "$out.jsonl"
