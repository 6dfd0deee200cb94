#!/usr/bin/env bash
# tests/lint/format.sh — every tracked .c and .h file is formatted the way
# .clang-format says (`clang-format --dry-run --Werror`: nothing would
# change). Lists the files that are not; `make format` (clang-format -i)
# fixes them. One TAP line; skipped when clang-format is not installed.
# Usage: tests/lint/format.sh [ROOT] (default: the repository this is in).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
echo "1..1"
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "ok 1 - sources formatted by .clang-format # SKIP $cf not installed"
	exit 0
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h')
else
	mapfile -t files < <(find . -path ./build -prune -o -name '*.[ch]' -print | sed 's|^\./||')
fi
bad=()
for f in "${files[@]}"; do
	[ -e "$f" ] || continue
	"$cf" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
	echo "ok 1 - sources formatted by .clang-format (${#files[@]} files)"
	exit 0
fi
echo "not ok 1 - sources formatted by .clang-format: ${#bad[@]} file(s) are not (make format)"
printf '%s: not formatted by .clang-format\n' "${bad[@]}"
exit 1
