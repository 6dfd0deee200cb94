#!/usr/bin/env bash
# tests/run.sh [unit|storage|e2e|all] — run Wharf's tests and count TAP lines.
#
#   unit     $BUILD/tests/test_* (cmocka, CMOCKA_MESSAGE_OUTPUT=TAP), and
#            the same under valgrind (tests/unit/valgrind.sh); the fuzz
#            targets' corpora replayed, plain and under valgrind
#            (tests/fuzz/replay.sh); the layer rules (tests/lint/layers.sh)
#            and the house format (tests/lint/format.sh)
#   storage  $BUILD/tests/driver_suite inmemory, and filesystem on a temp dir,
#            and s3 on Swift (tests/storage/swift.sh), oss on a local OSS
#            stand-in (tests/storage/oss.sh), gcs on a local fake
#            (tests/storage/gcs.sh), azure on azurite (tests/storage/azure.sh)
#   e2e      every tests/e2e/t_*.sh (real nginx, Wharf and clients)
#   all      all of them (default)
#
# Each program's output is shown prefixed with its name. Lines starting with
# "ok " pass and "not ok " fail ("# SKIP" counts as passed and is listed at
# the end); a program exiting non-zero without any "not ok" line, or printing
# no result at all, counts as one failure. The last line is always
# "N passed, M failed"; the exit status is 0 iff M is 0.
#
# Env: BUILD (default build), WHARF_TEST_TIMEOUT (seconds per program, 900),
# WHARF_E2E_TARGET (see tests/e2e/lib.sh), WHARF_TESTS (a regex: only
# programs whose name matches).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
export BUILD=${BUILD:-build}
mode=${1:-all}
timeout_s=${WHARF_TEST_TIMEOUT:-900}
filter=${WHARF_TESTS:-}

case $mode in unit | storage | e2e | all) ;; *)
	echo "usage: $0 [unit|storage|e2e|all]" >&2
	echo "0 passed, 1 failed"
	exit 2
	;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/wharf-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
skips=()
failures=()
times=()

# run_prog NAME CMD...: run one test program, show and count its output.
run_prog() {
	local name=$1
	shift
	if [ -n "$filter" ] && ! [[ $name =~ $filter ]]; then return 0; fi
	local out=$work/out rc p f s t0=$SECONDS
	echo "=== $name"
	{
		timeout --kill-after=20 "$timeout_s" "$@" </dev/null 2>&1
		echo $? >"$work/rc"
	} | tee "$out" | sed -u "s|^|[$name] |"
	rc=$(cat "$work/rc")
	times+=("$((SECONDS - t0))s $name")
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	s=$(grep -E '^ok .*# *(SKIP|skip)' "$out")
	passed=$((passed + p))
	failed=$((failed + f))
	[ -n "$s" ] && while IFS= read -r line; do skips+=("$name: $line"); done <<<"$s"
	if [ "$f" -gt 0 ]; then
		while IFS= read -r line; do failures+=("$name: $line"); done < <(grep '^not ok ' "$out")
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$name: exited with status $rc$([ "$rc" -eq 124 ] && echo ' (timeout)')")
	elif [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$name: printed no test result")
	fi
}

# missing NAME WHY: a program that should exist does not.
missing() {
	if [ -n "$filter" ] && ! [[ $1 =~ $filter ]]; then return 0; fi
	echo "not ok - $1: $2" | sed "s|^|[$1] |"
	failed=$((failed + 1))
	failures+=("$1: $2")
}

run_unit() {
	local src bin
	for src in tests/unit/test_*.c; do
		[ -e "$src" ] || continue
		bin=$BUILD/tests/$(basename "$src" .c)
		if [ -x "$bin" ]; then
			CMOCKA_MESSAGE_OUTPUT=TAP run_prog "$(basename "$bin")" "$bin"
		else
			missing "$(basename "$bin")" "not built ($bin): make tests-bin"
		fi
	done
	# the same programs under valgrind: no memory errors, no leaks (not for
	# the sanitizer build: ASan and valgrind do not mix)
	if ! nm "$BUILD"/tests/test_arena 2>/dev/null | grep -q __asan_init; then
		run_prog valgrind-unit bash tests/unit/valgrind.sh "$BUILD"
	fi
	# the layer rules of DESIGN.md and the house format, on the sources
	run_prog lint-layers bash tests/lint/layers.sh
	run_prog lint-layers-selftest bash tests/lint/layers_selftest.sh
	run_prog lint-format bash tests/lint/format.sh
	# the fuzz targets' seed corpora (crash reproducers included), once
	# each, then under valgrind (tests/fuzz/replay.sh)
	if [ -e tests/fuzz/replay.sh ]; then
		run_prog fuzz-replay bash tests/fuzz/replay.sh "$BUILD"
		if ! nm "$BUILD"/tests/test_arena 2>/dev/null | grep -q __asan_init; then
			run_prog valgrind-fuzz bash tests/fuzz/replay.sh "$BUILD" valgrind
		fi
	fi
}

run_storage() {
	[ -e tests/storage/driver_suite.c ] || return 0
	local bin=$BUILD/tests/driver_suite
	if [ ! -x "$bin" ]; then
		missing driver_suite "not built ($bin)"
		return 0
	fi
	CMOCKA_MESSAGE_OUTPUT=TAP run_prog "driver_suite-inmemory" "$bin" inmemory
	local d
	d=$(mktemp -d "$work/fs.XXXXXX")
	CMOCKA_MESSAGE_OUTPUT=TAP run_prog "driver_suite-filesystem" "$bin" filesystem "$d"
	rm -rf "$d"
	# the same without O_DIRECT (buffered writes only, as on tmpfs)
	d=$(mktemp -d "$work/fs.XXXXXX")
	WHARF_FS_DIRECTIO=0 CMOCKA_MESSAGE_OUTPUT=TAP run_prog "driver_suite-filesystem-buffered" "$bin" filesystem "$d"
	rm -rf "$d"
	# s3 against a real OpenStack Swift s3api started by the script
	[ -e tests/storage/swift.sh ] && run_prog "driver_suite-s3" bash tests/storage/swift.sh "$bin"
	# oss against tests/storage/oss_server.py, a local stand-in verifying OSS signatures
	[ -e tests/storage/oss.sh ] && run_prog "driver_suite-oss" bash tests/storage/oss.sh "$bin"
	# gcs against tests/storage/gcs_server.py, a local fake of the JSON API
	[ -e tests/storage/gcs.sh ] && run_prog "driver_suite-gcs" bash tests/storage/gcs.sh "$bin"
	# azure against azurite started by the script
	[ -e tests/storage/azure.sh ] && run_prog "driver_suite-azure" bash tests/storage/azure.sh "$bin"
	# swift (native API, TempAuth and a Keystone v3 stand-in) on the same Swift
	[ -e tests/storage/swift_native.sh ] && run_prog "driver_suite-swift" bash tests/storage/swift_native.sh "$bin"
}

run_e2e() {
	local t
	# every root the tests wrote, for t_zz_reference_gc.sh (it runs last)
	export WHARF_E2E_ROOTS=$work/roots
	mkdir -p "$WHARF_E2E_ROOTS"
	for t in tests/e2e/t_*.sh; do
		[ -e "$t" ] || continue
		run_prog "$(basename "$t" .sh)" bash "$t"
	done
}

case $mode in
unit) run_unit ;;
storage) run_storage ;;
e2e) run_e2e ;;
all)
	run_unit
	run_storage
	run_e2e
	;;
esac

echo "==="
echo "slowest:"
printf '%s\n' "${times[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
if [ "${#skips[@]}" -gt 0 ]; then
	echo "skipped (${#skips[@]}):"
	printf '  %s\n' "${skips[@]}"
fi
if [ "${#failures[@]}" -gt 0 ]; then
	echo "failed (${#failures[@]}):"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
