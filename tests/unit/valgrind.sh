#!/usr/bin/env bash
# tests/unit/valgrind.sh BUILD — every unit test program under valgrind
# (memcheck): one TAP line per program, "not ok" on any memory error or on a
# definite, indirect or possible leak (still-reachable blocks of libraries —
# libcurl and OpenSSL keep some for the process's life — are not leaks).
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
	if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 "$bin" >"$log" 2>&1; then
		echo "ok $n - valgrind: $name: no memory errors, no leaks"
	else
		echo "not ok $n - valgrind: $name"
		grep -E '^==[0-9]+==' "$log" | head -n 40 | sed 's/^/# /'
	fi
	rm -f "$log"
done
echo "1..$n"
