#!/usr/bin/env bash
# tests/bench/gc.sh — time `wharf garbage-collect` against the reference's
# `docker-registry garbage-collect` on copies of one generated root
# (default 2,000 manifests, 10,000 blobs; tests/e2e/fixtures/gcroot.py bench),
# with and without --delete-untagged; each measured RUNS times (median wall
# and user+sys CPU), page cache warm for both, runs interleaved. Prints a Markdown table; checks both leave the same files.
#   BUILD=build tests/bench/gc.sh [MANIFESTS] [BLOBS] [RUNS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$repo/$BUILD ;; esac
M=${1:-2000} B=${2:-10000} RUNS=${3:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-gcbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 "$repo/tests/e2e/fixtures/gcroot.py" bench "$tmp/orig" --manifests "$M" --blobs "$B" >/dev/null
cfg() { printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:1\n' "$1" >"$1.yml"; }
# run_one WHO FLAGS: copy, run once; prints "wall cpu" (seconds; cpu = user + sys)
run_one() {
	local who=$1 flags=$2 d=$tmp/$1
	rm -rf "$d" "$d.yml"
	cp -a "$tmp/orig" "$d"
	cfg "$d"
	find "$d" -type f -exec cat {} + >/dev/null # warm the page cache
	if [ "$who" = ref ]; then
		/usr/bin/time -f '%e %U %S' -o "$d.time" docker-registry garbage-collect $flags "$d.yml" >"$d.out" 2>&1
	else
		/usr/bin/time -f '%e %U %S' -o "$d.time" "$BUILD/wharf" garbage-collect $flags "$d.yml" >"$d.out" 2>&1
	fi
	awk '{printf "%s %.2f\n", $1, $2 + $3}' "$d.time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "root: $M manifests, $(find "$tmp/orig" -name data | wc -l) blobs, $(find "$tmp/orig" -type f | wc -l) files; median of $RUNS runs"
echo
echo "| mode | reference wall (s) | wharf wall (s) | wall speed-up | reference CPU (s) | wharf CPU (s) | CPU ratio | same files |"
echo "|---|---|---|---|---|---|---|---|"
for flags in "" "--delete-untagged"; do
	: >"$tmp/r.t"
	: >"$tmp/w.t"
	for i in $(seq "$RUNS"); do
		run_one ref "$flags" >>"$tmp/r.t"
		run_one wharf "$flags" >>"$tmp/w.t"
	done
	rw=$(awk '{print $1}' "$tmp/r.t" | median) rc=$(awk '{print $2}' "$tmp/r.t" | median)
	ww=$(awk '{print $1}' "$tmp/w.t" | median) wc=$(awk '{print $2}' "$tmp/w.t" | median)
	same=no
	[ "$(cd "$tmp/ref" && find . -type f | sort)" = "$(cd "$tmp/wharf" && find . -type f | sort)" ] && same=yes
	printf '| %s | %.2f | %.2f | %.1fx | %.2f | %.2f | %.1fx | %s |\n' "${flags:-(default)}" "$rw" "$ww" \
		"$(echo "$rw / $ww" | bc -l)" "$rc" "$wc" "$(echo "$rc / $wc" | bc -l)" "$same"
done
