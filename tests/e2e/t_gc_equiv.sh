#!/usr/bin/env bash
# t_gc_equiv.sh — Wharf's garbage-collect leaves the same files as the
# reference's (docker-registry 2.8.2) on copies of one root: several
# repositories, shared layers, docker and OCI manifests, a multi-arch index,
# untagged manifests, a moved tag, deleted tags, a deleted manifest, orphan
# blobs, a referrer. With --delete-untagged the reference deletes the
# children of a tagged index and referrers of kept subjects (distribution
# #3178): Wharf keeps them, and this test checks that that is the only
# difference and that the reference's result is the broken one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"
e2e_init
need=$(need_cmd docker-registry) || { t_skip "gc equivalence" "$need"; e2e_done; exit; }

gcroot scenario "$TMP/orig" "$TMP/expect.json"
orig_files=$(files "$TMP/orig")

# ---- dry run: nothing changes, same report
for who in ref wharf; do cp -a "$TMP/orig" "$TMP/dry-$who"; done
ref_gc "$TMP/dry-ref" --dry-run
wharf_gc "$TMP/dry-wharf" --dry-run
check_eq "dry run: reference deletes nothing" "$orig_files" "$(files "$TMP/dry-ref")"
check_eq "dry run: wharf deletes nothing" "$orig_files" "$(files "$TMP/dry-wharf")"
check_eq "dry run: same counts as the reference" "$(summary "$TMP/dry-ref.ref.out")" \
	"$(summary "$TMP/dry-wharf.wharf.out")"

# ---- plain mark & sweep: the same files
cp -a "$TMP/orig" "$TMP/ref"
cp -a "$TMP/orig" "$TMP/wh"
ref_gc "$TMP/ref" && wharf_gc "$TMP/wh"
check_eq "garbage-collect: same files as the reference" "$(files "$TMP/ref")" "$(files "$TMP/wh")"
check_eq "garbage-collect: same counts as the reference" "$(summary "$TMP/ref.ref.out")" \
	"$(summary "$TMP/wh.wharf.out")"
check "garbage-collect deleted something" test "$(files "$TMP/wh" | wc -l)" -lt "$(echo "$orig_files" | wc -l)"
check "wharf summary line (blobs, manifests, bytes freed)" grep -Eq 'blobs deleted, [0-9]+ bytes freed' "$TMP/wh.wharf.out"
# a second run finds nothing
wharf_gc "$TMP/wh"
check "a second run deletes nothing" grep -q '0 manifests and 0 blobs deleted' "$TMP/wh.wharf.out"

# ---- --delete-untagged
cp -a "$TMP/orig" "$TMP/refm"
cp -a "$TMP/orig" "$TMP/whm"
ref_gc "$TMP/refm" --delete-untagged && wharf_gc "$TMP/whm" -m
rf=$(files "$TMP/refm")
wf=$(files "$TMP/whm")
missing=$(comm -23 <(echo "$rf") <(echo "$wf"))
[ -z "$missing" ] && t_ok "-m: nothing the reference keeps is deleted by wharf" ||
	t_fail "-m: nothing the reference keeps is deleted by wharf" "$missing"
extra=$(comm -13 <(echo "$rf") <(echo "$wf"))
# allowed extras: revision links of the #3178 manifests, and blobs they reach
allowed=$("$PYTHON" - "$TMP/orig" "$TMP/expect.json" <<'PY'
import json, sys, os
root, exp = sys.argv[1], sys.argv[2]
v2 = os.path.join(root, "docker/registry/v2")
keep = json.load(open(exp))["keep3178"]
out = set()
for d in keep:
    h = d[7:]
    out.add("blobs/sha256/%s/%s/data" % (h[:2], h))
    m = json.load(open(os.path.join(v2, "blobs/sha256/%s/%s/data" % (h[:2], h))))
    for r in [m.get("config")] + m.get("layers", []):
        if r:
            x = r["digest"][7:]
            out.add("blobs/sha256/%s/%s/data" % (x[:2], x))
    out.add("revisions/sha256/%s/link" % h)
print("\n".join(sorted(out)))
PY
)
bad=$(echo "$extra" | while read -r f; do
	[ -z "$f" ] && continue
	k=${f#./docker/registry/v2/}
	k=${k#repositories/*/_manifests/}
	k=${k#repositories/*/*/_manifests/}
	echo "$allowed" | grep -qxF "$k" || echo "$f"
done)
[ -n "$extra" ] && [ -z "$bad" ] && t_ok "-m: the only difference is #3178 (index children, referrers: $(echo "$extra" | wc -l) files)" ||
	t_fail "-m: the only difference is #3178" "extra: $extra" "unexpected: $bad"
check_eq "-m: same number of manifests deleted, minus the #3178 ones" \
	"$(($(summary "$TMP/refm.ref.out" | awk '{print $7}') - $(jq '.keep3178 | length' "$TMP/expect.json")))" \
	"$(summary "$TMP/whm.wharf.out" | awk '{print $7}')"

# ---- what the results serve: Wharf's -m root pulls completely from both
# registries; the reference's -m root is missing the children's layers.
if wharf_start "$TMP/whm"; then
	check "-m root collected by wharf: every tag pulls from wharf" gcroot pull "$W_URL"
	wharf_stop
fi
if refreg_start "$TMP/rr1" "$TMP/whm"; then
	check "-m root collected by wharf: every tag pulls from the reference" gcroot pull "http://$R_HOST"
	refreg_stop
fi
if refreg_start "$TMP/rr2" "$TMP/refm"; then
	if gcroot pull "http://$R_HOST" >"$TMP/refpull.out" 2>&1; then
		t_fail "#3178 reproduced: the reference's -m root lost the children of a tagged index" "$(cat "$TMP/refpull.out")"
	else
		t_ok "#3178 reproduced: the reference's -m root lost the children of a tagged index ($(head -c 120 "$TMP/refpull.out"))"
	fi
	refreg_stop
fi
e2e_done
