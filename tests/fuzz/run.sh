#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD — run every libFuzzer target of BUILD (make fuzz:
# build/fuzz/fuzz_*) for FUZZ_SECONDS each on a working copy of its seed
# corpus, with its dictionary, and print one line per target: runs, coverage
# (cov: edges, ft: features) and the crash, leak or timeout found, if any.
#
# Env: FUZZ_SECONDS (60), FUZZ_TARGETS (names, e.g. "fuzz_jwt fuzz_range";
# default all), FUZZ_JOBS (targets run at once, 1), FUZZ_WORK (working
# corpora, logs and crash inputs; default BUILD/work — never the seeds:
# to keep an input, copy it to tests/fuzz/corpus/<target>/ yourself).
# Exit status 0 iff no target found anything.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
work=${FUZZ_WORK:-$build/work}
targets=${FUZZ_TARGETS:-$(cd "$build" && ls fuzz_* 2>/dev/null | tr '\n' ' ')}
[ -n "$targets" ] || { echo "no fuzz targets in $build (make fuzz builds them)" >&2; exit 2; }

dict_of() {
	case $1 in
	fuzz_manifest | fuzz_jwt | fuzz_jwks) echo "$here/dict/json.dict" ;;
	fuzz_s3xml) echo "$here/dict/xml.dict" ;;
	fuzz_config) echo "$here/dict/yaml.dict" ;;
	fuzz_fcgi) echo "$here/dict/fcgi.dict" ;;
	esac
}

run_one() {
	local t=$1 bin=$build/$1 d
	mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
	d=$(dict_of "$t")
	"$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
		${d:+-dict="$d"} -artifact_prefix="$work/artifacts/$t/" \
		"$work/corpus/$t" "$here/corpus/$t" >"$work/logs/$t.log" 2>&1
	echo $? >"$work/logs/$t.rc"
}

summary() {
	local t=$1 log=$work/logs/$1.log rc runs cov found
	rc=$(cat "$work/logs/$t.rc" 2>/dev/null || echo '?')
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	found=$(grep -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error: .*' "$log" | head -n 1)
	if [ "$rc" = 0 ]; then
		echo "ok   $t: ${runs:-?} runs in ${secs}s, $cov"
	else
		echo "FAIL $t: after ${runs:-?} runs: ${found:-exit $rc}; input: $(ls "$work/artifacts/$t/" | head -n 1); log: $log"
	fi
}

running=0
for t in $targets; do
	[ -x "$build/$t" ] || { echo "FAIL $t: not built ($build/$t)"; continue; }
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
bad=0
for t in $targets; do
	summary "$t"
	[ "$(cat "$work/logs/$t.rc" 2>/dev/null)" = 0 ] || bad=1
done
exit $bad
