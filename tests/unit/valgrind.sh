#!/usr/bin/env bash
# tests/unit/valgrind.sh BUILD — every unit test program under valgrind
# (memcheck): one TAP line per program, "not ok" on any memory error or on a
# definite, indirect or possible leak (still-reachable blocks of libraries —
# libcurl and OpenSSL keep some for the process's life — are not leaks).
# A program that fails shows its failing assertions, then valgrind's report.
# Skipped for sanitizer builds (ASan and valgrind do not mix) and when
# valgrind is missing.
set -u
build=${1:-build}
n=0
for bin in "$build"/tests/test_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	n=$((n + 1))
	if ! command -v valgrind >/dev/null; then
		echo "ok $n - valgrind: $name # SKIP valgrind not installed"
		continue
	fi
	if nm "$bin" 2>/dev/null | grep -q '__asan_init'; then
		echo "ok $n - valgrind: $name # SKIP sanitizer build"
		continue
	fi
	log=$(mktemp)
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 "$bin" >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $n - valgrind: $name: no memory errors, no leaks"
	else
		# a failed assertion also leaks what its test had allocated, and
		# valgrind's exit status (99) then hides the program's own: tell
		# them apart by cmocka's output
		if grep -qE '^\[  FAILED  \] |^not ok ' "$log"; then
			echo "not ok $n - valgrind: $name: a test failed under valgrind"
		elif [ "$rc" -eq 99 ]; then
			echo "not ok $n - valgrind: $name: memory errors or leaks"
		else
			echo "not ok $n - valgrind: $name: exit status $rc"
		fi
		# the program's failing tests and assertions first, then valgrind's
		# report; all as TAP comments, so the program's lines are not counted
		grep -vE '^==[0-9]+==|^ok |^\[ +(RUN|OK) +\]' "$log" | head -n 40 | sed 's/^/# /'
		grep -E '^==[0-9]+==' "$log" | head -n 40 | sed 's/^/# /'
	fi
	rm -f "$log"
done
echo "1..$n"
