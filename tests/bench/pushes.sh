#!/usr/bin/env bash
# tests/bench/pushes.sh (`make bench-pushes`) — 32 concurrent 64 MiB pushes
# while pulls go on (issue 12). One command, about 2–4 minutes:
#
#     make bench-pushes          # or: tests/bench/pushes.sh [pushes.py options]
#
# Starts the same four targets as slow.sh, side by side on random free
# loopback ports with fresh storage (wharf+nginx = `make run`, wharf+apache =
# `make run FRONT=apache`, the reference docker-registry 2.8.2 direct and
# behind nginx), then for each in turn (tests/bench/pushes.py): 32 pushes at
# once, each a new 64 MiB layer (monolithic PUT and 16 MiB PATCHes in turn)
# + config + manifest into its own repository, while 4 clients pull a
# 16 MiB image in a loop; every push is checked afterwards (manifest GET,
# layer HEAD). Reports pushes completed, errors, wall time, MB/s, pulls and
# their errors, and peak RSS from /proc: the pool's sum (Wharf master +
# workers), the master, the largest worker, workers seen; the front's sum.
# Stops everything it started, by PID.
#
# Results: tests/bench/results/pushes-<UTC date>.{md,jsonl}; summary in
# tests/bench/RESULTS-slow.md. Disk: about 2.1 GiB per target in $TMPDIR
# (deleted at the end).
# Env: PUSH_COUNT (32), PUSH_MB (64), PUSH_MODE (mixed | monolithic |
# chunked), PUSH_CHUNK_MB (16), PUSH_PULLERS (4), PUSH_PULL_MB (16),
# PUSH_TIMEOUT (120 s per request), BENCH_TARGETS, WHARF_WORKERS,
# WHARF_LOGLEVEL (only when set), BUILD, BENCH_DIR, TARGETS_KEEP=1.
# Extra arguments go to pushes.py (see `python3 tests/bench/pushes.py --help`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=targets.sh
source "$here/targets.sh"
targets_bench pushes "Concurrent pushes while pulling" "$@"
