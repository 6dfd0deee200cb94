#!/usr/bin/env bash
# t_zz_reference_gc.sh — nothing is stored that the reference registry could
# not read back (issue 11): the reference's `garbage-collect --dry-run`
# (docker-registry 2.8.2) over every filesystem root the e2e tests before it
# wrote, failing on any error. Its mark phase reads every revision of every
# repository and unmarshals each manifest and index: a size it cannot hold in
# an int64 (2^64), a document that is neither an image nor an index, a link
# naming a missing blob, and it refuses the whole root.
#
# tests/run.sh e2e sets WHARF_E2E_ROOTS; lib.sh keeps each test's roots there
# at exit (hard links), and the name makes this test run last. Run alone
# (without run.sh, or filtered to itself), it has nothing to check and skips.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"
e2e_init
need=$(need_cmd docker-registry) || { t_skip "reference reads every root" "$need"; e2e_done; exit; }
if [ -z "${WHARF_E2E_ROOTS:-}" ] || [ -z "$(ls -A "$WHARF_E2E_ROOTS" 2>/dev/null)" ]; then
	t_skip "reference reads every root" "no roots kept (run through tests/run.sh e2e with other tests)"
	e2e_done
	exit
fi

n=0
bad=0
for root in "$WHARF_E2E_ROOTS"/*; do
	[ -d "$root" ] || continue
	n=$((n + 1))
	name=$(basename "$root")
	gc_cfg "$TMP/$name.yml" "$root"
	if docker-registry garbage-collect --dry-run "$TMP/$name.yml" >"$TMP/$name.out" 2>&1 &&
		! grep -qE 'level=(error|fatal|panic)' "$TMP/$name.out"; then
		:
	else
		bad=$((bad + 1))
		t_fail "reference garbage-collect --dry-run reads the root of $name" \
			"$(grep -vE '^[a-z0-9/_.-]+$|marking (manifest|blob)' "$TMP/$name.out" | tail -n 8)"
	fi
done
diag "$n roots checked"
[ "$bad" -eq 0 ] && t_ok "reference garbage-collect --dry-run reads all $n roots the e2e tests wrote"
e2e_done
