#!/usr/bin/env bash
# tests/bench/gc.sh — time `wharf garbage-collect` against the reference's
# `docker-registry garbage-collect` on copies of one generated root
# (default 2,000 manifests, 10,000 blobs; tests/e2e/fixtures/gcroot.py bench),
# with and without --delete-untagged; each measured RUNS times (median), page
# cache warm for both. Prints a Markdown table; checks both leave the same files.
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
# run_one WHO FLAGS: copy, run once timed (seconds on stdout)
run_one() {
	local who=$1 flags=$2 d=$tmp/$1 s e
	rm -rf "$d" "$d.yml"
	cp -a "$tmp/orig" "$d"
	cfg "$d"
	find "$d" -type f -exec cat {} + >/dev/null # warm the page cache
	s=$(date +%s.%N)
	if [ "$who" = ref ]; then
		docker-registry garbage-collect $flags "$d.yml" >"$d.out" 2>&1
	else
		"$BUILD/wharf" garbage-collect $flags "$d.yml" >"$d.out" 2>&1
	fi
	e=$(date +%s.%N)
	echo "$e - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "root: $M manifests, $(find "$tmp/orig" -name data | wc -l) blobs, $(find "$tmp/orig" -type f | wc -l) files"
echo
echo "| mode | reference (s) | wharf (s) | speed-up | same files |"
echo "|---|---|---|---|---|"
for flags in "" "--delete-untagged"; do
	r=$(for i in $(seq "$RUNS"); do run_one ref "$flags"; done | median)
	w=$(for i in $(seq "$RUNS"); do run_one wharf "$flags"; done | median)
	same=no
	[ "$(cd "$tmp/ref" && find . -type f | sort)" = "$(cd "$tmp/wharf" && find . -type f | sort)" ] && same=yes
	printf '| %s | %.3f | %.3f | %.1fx | %s |\n' "${flags:-(default)}" "$r" "$w" "$(echo "$r / $w" | bc -l)" "$same"
done
