#!/usr/bin/env bash
# tests/bench/slow.sh (`make bench-slow`) — slow uploaders must not starve
# pulls (issue 12). One command, about 5 minutes with the defaults:
#
#     make bench-slow            # or: tests/bench/slow.sh [slow.py options]
#
# Starts, side by side on random free loopback ports with fresh storage:
#   wharf+nginx         `make run` (admin/run.sh: nginx + wharf serve, its defaults)
#   wharf+apache        `make run FRONT=apache`
#   distribution        the reference docker-registry 2.8.2, direct
#   distribution+nginx  the reference behind nginx (the shared harness's reference.sh)
# then, for each target in turn (tests/bench/slow.py): 48 clients each trickle
# one upload body (PATCH with Content-Length) at 2 KiB/s for 60 s, each from
# its own 127.0.0.x, while a probe sends 5 manifest GETs/s (5 s timeout =
# failure); reports GET p50/p99/max, failures, slow clients cut by the front
# (and when), uploads completed, and the Wharf pool's worker count over time.
# Stops everything it started, by PID (never other runs' nginx/Apache/Wharf).
#
# Results: tests/bench/results/slow-<UTC date>.{md,jsonl}; summary in
# tests/bench/RESULTS-slow.md.
# Env: SLOW_CLIENTS (48), SLOW_RATE (2048 B/s), SLOW_SECONDS (60), SLOW_MODE
# (patch | chunked | put | mix), SLOW_PROBE_RATE (5/s), SLOW_TIMEOUT (5 s),
# BENCH_TARGETS (subset/order of the four names), WHARF_WORKERS,
# WHARF_LOGLEVEL (only when set), BUILD, BENCH_DIR, TARGETS_KEEP=1 (keep logs).
# Extra arguments go to slow.py (see `python3 tests/bench/slow.py --help`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=targets.sh
source "$here/targets.sh"
targets_bench slow "Slow uploaders vs manifest GETs" "$@"
