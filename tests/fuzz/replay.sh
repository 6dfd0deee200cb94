#!/usr/bin/env bash
# tests/fuzz/replay.sh BUILD [valgrind] — the fuzz targets' regression test:
# every BUILD/tests/fuzz/fuzz_* (a target linked with replay.c, see the
# Makefile) runs its seed corpus tests/fuzz/corpus/<target>/ once, which
# holds every input a campaign found crashing; one TAP line per target.
# With "valgrind": the same under memcheck (no memory error, no leak);
# skipped for sanitizer builds.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
mode=${2:-}
n=0
for src in "$here"/fuzz_*.c; do
	[ -e "$src" ] || continue
	t=$(basename "$src" .c)
	bin=$build/tests/fuzz/$t
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $t: not built ($bin: make tests-bin)"
		continue
	fi
	log=$(mktemp)
	if [ "$mode" = valgrind ]; then
		if ! command -v valgrind >/dev/null; then
			echo "ok $n - valgrind: $t # SKIP valgrind not installed"
		elif nm "$bin" 2>/dev/null | grep -q '__asan_init'; then
			echo "ok $n - valgrind: $t # SKIP sanitizer build"
		elif valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
			--error-exitcode=99 "$bin" "$here/corpus/$t" >"$log" 2>&1 && grep -q '^ok ' "$log"; then
			echo "ok $n - valgrind: $t: $(grep -o '[0-9]* inputs' "$log"), no memory errors, no leaks"
		else
			echo "not ok $n - valgrind: $t"
			grep -E '^==[0-9]+==|^#' "$log" | head -n 40 | sed 's/^/# /'
		fi
	elif "$bin" "$here/corpus/$t" >"$log" 2>&1 && grep -q '^ok ' "$log"; then
		echo "ok $n - $t: $(grep -o '[0-9]* inputs' "$log") replayed"
	else
		echo "not ok $n - $t: replaying tests/fuzz/corpus/$t failed"
		# FUZZ_REPLAY_VERBOSE=1 names each input as it runs
		tail -n 30 "$log" | sed 's/^/# /'
	fi
	rm -f "$log"
done
echo "1..$n"
