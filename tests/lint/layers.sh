#!/usr/bin/env bash
# tests/lint/layers.sh — the layer rules of DESIGN.md, checked on the source
# tree (admin -> fcgi -> handlers -> storage -> drivers -> lib, never back up):
#
#   1. outside storage/ (lib/, handlers/, fcgi/, admin/) no file calls a
#      driver's table op (`->ops->`) or includes a header of the driver
#      level: storage/driver.h (the tables and the storage_* calls on a
#      driver), storage/open.h (opening one), storage/drivers/*.h,
#      storage/middleware/*.h: the rest of Wharf uses the registry model
#      (storage/registry.h, gc.h, maintenance.h, …);
#   2. fcgi/ includes nothing from storage/ (the pool runs tasks `wharf
#      serve` hands it, without knowing what they do);
#   3. lib/ includes nothing from storage/, handlers/, fcgi/ or admin/;
#   4. storage/ includes nothing from handlers/, fcgi/ or admin/;
#   5. handlers/ includes nothing from fcgi/ but fcgi/http.h (the request
#      and response types), and nothing from admin/; fcgi/ nothing from
#      admin/ (admin/ may include anything);
#   6. no .c file declares a prototype of a function defined in another .c
#      file (a non-static declaration ending in `);` at file scope): such a
#      function belongs in a header, so the compiler checks both sides.
#
# Only `#include "..."` lines count (system headers are not layers). Each
# violation is printed as file:line: rule; one TAP line per rule.
# Usage: tests/lint/layers.sh [ROOT] (default: the repository this is in).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

# the C sources of the layers, tracked ones when this is a git checkout
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -co --exclude-standard -- 'lib/*.[ch]' 'storage/*.[ch]' \
		'handlers/*.[ch]' 'fcgi/*.[ch]' 'admin/*.[ch]' | sort -u)
else
	mapfile -t files < <(find lib storage handlers fcgi admin -name '*.[ch]' | sort)
fi
existing=()
for f in "${files[@]}"; do [ -e "$f" ] && existing+=("$f"); done
files=("${existing[@]}")

rules=(
	"no table op or driver-level header (driver.h, open.h, drivers/, middleware/) outside storage/"
	"fcgi/ includes nothing from storage/"
	"lib/ includes nothing from storage/, handlers/, fcgi/, admin/"
	"storage/ includes nothing from handlers/, fcgi/, admin/"
	"handlers/ includes only fcgi/http.h from fcgi/; nothing but admin/ includes admin/"
	"no prototype of another file's function inside a .c file"
)

# normalize DIR REL: the repository path of #include "REL" in a file of DIR
normalize() {
	local path=$1/$2 out=() part
	local IFS=/
	for part in $path; do
		case $part in
		'' | .) ;;
		..) [ ${#out[@]} -gt 0 ] && unset 'out[${#out[@]}-1]' ;;
		*) out+=("$part") ;;
		esac
	done
	echo "${out[*]}"
}

violations=$(mktemp)
trap 'rm -f "$violations"' EXIT

# v RULE FILE LINE: record a violation of rule number RULE (1-based)
v() {
	echo "$1	$2:$3: ${rules[$1 - 1]}" >>"$violations"
}

for f in "${files[@]}"; do
	dir=$(dirname "$f")
	layer=${f%%/*}
	# rules 1-5: the includes
	while IFS=: read -r line inc; do
		[ -n "$inc" ] || continue
		t=$(normalize "$dir" "$inc")
		case $layer in
		storage) ;;
		*)
			case $t in storage/driver.h | storage/open.h | storage/drivers/* | storage/middleware/*) v 1 "$f" "$line" ;; esac
			;;
		esac
		case $layer/$t in
		fcgi/storage/*) v 2 "$f" "$line" ;;
		lib/storage/* | lib/handlers/* | lib/fcgi/* | lib/admin/*) v 3 "$f" "$line" ;;
		storage/handlers/* | storage/fcgi/* | storage/admin/*) v 4 "$f" "$line" ;;
		handlers/fcgi/http.h) ;;
		handlers/fcgi/* | handlers/admin/* | fcgi/admin/*) v 5 "$f" "$line" ;;
		esac
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
	# rule 1: a table op called outside storage/
	if [ "$layer" != storage ]; then
		grep -n -e '->ops->' "$f" | while IFS=: read -r line _; do v 1 "$f" "$line"; done
	fi
	# rule 6: file-scope prototypes in a .c file. Comments, strings and
	# preprocessor lines are blanked; a statement at brace depth 0 that ends
	# in `);`, has at least a type before the name and its `(`, and is not
	# static, typedef or a function pointer variable, is a prototype.
	case $f in *.c) ;; *) continue ;; esac
	awk -v F="$f" '
	BEGIN { depth = 0; incom = 0; stmt = ""; start = 0 }
	{
		s = $0; out = ""
		i = 1
		while (i <= length(s)) {
			c = substr(s, i, 1); c2 = substr(s, i, 2)
			if (incom) {
				if (c2 == "*/") { incom = 0; i += 2; continue }
				i++; continue
			}
			if (c2 == "/*") { incom = 1; i += 2; continue }
			if (c2 == "//") break
			if (c == "\"" || c == "\x27") {
				q = c; i++
				while (i <= length(s) && substr(s, i, 1) != q) {
					if (substr(s, i, 1) == "\\") i++
					i++
				}
				i++; out = out " "; continue
			}
			out = out c; i++
		}
		if (out ~ /^[ \t]*#/) { pp = (out ~ /\\$/); next }
		if (pp) { pp = (out ~ /\\$/); next }
		n = length(out)
		for (i = 1; i <= n; i++) {
			c = substr(out, i, 1)
			if (c == "{") { depth++; stmt = ""; continue }
			if (c == "}") { if (depth > 0) depth--; stmt = ""; continue }
			if (depth > 0) continue
			if (stmt ~ /^[ \t]*$/) start = NR
			stmt = stmt c
			if (c == ";") {
				t = stmt; stmt = ""
				gsub(/[ \t\r\n]+/, " ", t); sub(/^ /, "", t)
				if (t !~ /\) ?;$/) continue
				if (t ~ /^(static|typedef|extern "C")/) continue
				if (t ~ /\( ?\*/) continue # a function pointer variable
				if (t !~ /^[A-Za-z_][A-Za-z_0-9 \t\*]* \*?[A-Za-z_][A-Za-z_0-9]* ?\(/) continue
				if (t ~ /=/) continue
				print F ":" start
			}
		}
		if (depth == 0) stmt = stmt " "
	}' "$f" | while IFS=: read -r ff line; do v 6 "$ff" "$line"; done
done

echo "1..${#rules[@]}"
status=0
for i in "${!rules[@]}"; do
	n=$((i + 1))
	hits=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$violations")
	if [ -z "$hits" ]; then
		echo "ok $n - ${rules[$i]}"
	else
		echo "not ok $n - ${rules[$i]} ($(wc -l <<<"$hits") violation(s))"
		echo "$hits"
		status=1
	fi
done
exit $status
