#!/usr/bin/env bash
# tests/lint/layers_selftest.sh — the layer check can fail: on a copy of the
# sources it passes, then for each of its six rules one planted violation
# must make tests/lint/layers.sh fail on exactly that rule. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# fresh COPY: the tracked layer sources, outside git (layers.sh then uses find)
fresh() {
	rm -rf "$tmp/src"
	mkdir -p "$tmp/src"
	(cd "$repo" && git ls-files -- 'lib/*.[ch]' 'storage/*.[ch]' 'handlers/*.[ch]' 'fcgi/*.[ch]' \
		'admin/*.[ch]' | tar -cf - -T -) | tar -xf - -C "$tmp/src"
}

plant=(
	"handlers/blobs.c|#include \"../storage/drivers/filesystem.h\""
	"admin/gc.c|#include \"../storage/driver.h\""
	"handlers/listing.c|static int has_stat(struct storage_driver *d) { return d->ops->stat != 0; }"
	"fcgi/router.c|#include \"../storage/registry.h\""
	"lib/digest.c|#include \"../handlers/app.h\""
	"storage/paths.c|#include \"../fcgi/http.h\""
	"handlers/errors.c|#include \"../fcgi/pool.h\""
	"fcgi/router.c|int registry_repo_exists(void *r, void *a, const char *repo);"
)
echo "1..$((${#plant[@]} + 1))"
fail=0
fresh
if out=$(bash "$here/layers.sh" "$tmp/src" 2>&1); then
	echo "ok 1 - the unchanged sources pass"
else
	echo "not ok 1 - the unchanged sources pass"
	fail=1
	sed 's/^/# /' <<<"$out"
fi
for i in "${!plant[@]}"; do
	file=${plant[$i]%%|*}
	line=${plant[$i]#*|}
	rule=$((i + 1))
	[ $i -ge 1 ] && rule=$((i - 1)) # the first three plants are all rule 1
	[ $rule -lt 1 ] && rule=1
	fresh
	# after the file's first line (its comment), at file scope
	sed -i "1a $line" "$tmp/src/$file"
	out=$(bash "$here/layers.sh" "$tmp/src" 2>&1)
	rc=$?
	n=$((i + 2))
	if [ $rc -ne 0 ] && grep -q "^not ok $rule " <<<"$out" &&
		[ "$(grep -c '^not ok' <<<"$out")" -eq 1 ]; then
		echo "ok $n - rule $rule catches $file: $line"
	else
		echo "not ok $n - rule $rule catches $file: $line"
		sed 's/^/# /' <<<"$out"
		fail=1
	fi
done
exit $fail
