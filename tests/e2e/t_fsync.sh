#!/usr/bin/env bash
# Durability order at every commit point of the filesystem driver: a push
# (blob move, layer link, manifest revision, tag, referrer — commit_lib.sh)
# is traced with strace on the one worker, and every rename must follow an
# fsync of the file it places and be followed by an fsync of the directory
# that now names it, before anything else is placed; every directory made by
# mkdir must have its parent fsynced the same way. Without the directory
# fsync a power loss can forget a name that was acknowledged (a blob moved
# into place, then linked, then announced).
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/api_lib.sh"
source "$E2E_DIR/commit_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx strace); then
	t_skip "fsync order at each commit point" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "fsync order at each commit point" "traces Wharf's worker"
	exit 0
fi
WHARF_E2E_WORKERS=1 wharf_start || { t_fail "registry starts"; exit 1; }
U=$W_URL

worker=$(wharf_children)
[ "$(echo $worker | wc -w)" = 1 ]
t_result "one worker ($worker)" $?

strace -f -qq -y -s 4096 -e trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat \
	-o "$TMP/trace" -p "$worker" 2>"$TMP/strace.err" &
spid=$!
track_pid "$spid"
for ((i = 0; i < 50; i++)); do
	[ "$(awk '/^TracerPid:/ {print $2}' "/proc/$worker/status")" = "$spid" ] && break
	sleep 0.1
done
if [ "$(awk '/^TracerPid:/ {print $2}' "/proc/$worker/status")" != "$spid" ]; then
	t_skip "fsync order at each commit point" "strace cannot attach: $(head -n 2 "$TMP/strace.err")"
	wharf_stop
	e2e_done
	exit $?
fi

push_make 1
push_run fsync/a v1 1
t_result "push through every commit point acknowledged" $? "failed at: $PUSH_FAILED" "$(cat "$BODY")"
kill -INT "$spid"
wait "$spid" 2>/dev/null

# rename(2) and mkdir(2) with their paths, fsync with the path of its fd (-y)
"$PYTHON" - "$TMP/trace" "$W_ROOT" >"$TMP/order" <<'EOF'
import os, re, sys
trace, root = sys.argv[1], sys.argv[2]
ops = []  # (kind, path[, path2])
for line in open(trace):
    m = re.search(r'\b(rename|renameat2?)\((?:AT_FDCWD[^,]*, )?"([^"]+)", (?:AT_FDCWD[^,]*, )?"([^"]+)"[^)]*\)\s+= 0', line)
    if m:
        ops.append(("rename", m.group(2), m.group(3)))
        continue
    m = re.search(r'\b(mkdir|mkdirat)\((?:AT_FDCWD[^,]*, )?"([^"]+)"[^)]*\)\s+= 0', line)
    if m:
        ops.append(("mkdir", m.group(2)))
        continue
    m = re.search(r'\b(fsync|fdatasync)\(\d+<([^>]+)>\)\s+= 0', line)
    if m:
        ops.append(("fsync", m.group(2)))
bad = []
seen = {}
for i, op in enumerate(ops):
    if op[0] == "fsync":
        continue
    placed = op[2] if op[0] == "rename" else op[1]
    if op[0] == "rename" and ("fsync", op[1]) not in ops[:i]:
        bad.append("rename %s -> %s: the file was never fsynced before" % (op[1], placed))
    # the directory naming it fsynced before the next rename (or the end)
    parent = os.path.dirname(placed)
    ok = False
    for nxt in ops[i + 1:]:
        if nxt == ("fsync", parent):
            ok = True
            break
        if nxt[0] == "rename":
            break
    if not ok:
        bad.append("%s %s: its directory %s not fsynced before the next commit" % (op[0], placed, parent))
    rel = placed[len(root):]
    for kind, rx in (("blob move", r"/blobs/sha256/../[0-9a-f]{64}/data$"),
                     ("layer link", r"/_layers/sha256/[0-9a-f]{64}/link$"),
                     ("manifest revision", r"/_manifests/revisions/sha256/[0-9a-f]{64}/link$"),
                     ("tag index", r"/_manifests/tags/[^/]+/index/sha256/[0-9a-f]{64}/link$"),
                     ("tag current", r"/_manifests/tags/[^/]+/current/link$"),
                     ("referrer", r"/_manifests/referrers/sha256/[0-9a-f]{64}/sha256/[0-9a-f]{64}/link$"),
                     ("upload hash state", r"/_uploads/[^/]+/hashstates/sha256/\d+$")):
        if kind == "blob move" and "/_uploads/" not in op[1]:
            continue  # a manifest's blob is put, not moved
        if op[0] == "rename" and re.search(rx, rel):
            seen[kind] = seen.get(kind, 0) + 1
for kind in ("blob move", "layer link", "manifest revision", "tag index", "tag current",
             "referrer", "upload hash state"):
    print("seen %s %d" % (kind.replace(" ", "_"), seen.get(kind, 0)))
print("mkdirs %d renames %d" % (sum(o[0] == "mkdir" for o in ops), sum(o[0] == "rename" for o in ops)))
for b in bad:
    print("bad " + b)
EOF
diag "$(grep -v '^bad' "$TMP/order")"
for kind in blob_move layer_link manifest_revision tag_index tag_current referrer upload_hash_state; do
	n=$(awk -v k="$kind" '$1 == "seen" && $2 == k {print $3}' "$TMP/order")
	[ "${n:-0}" -ge 1 ]
	t_result "trace covers the $kind commit point" $?
done
grep -q '^mkdirs [1-9]' "$TMP/order"
t_result "trace covers new directories (mkdir)" $?
bad=$(grep '^bad rename' "$TMP/order" | sed 's/^bad //')
[ -z "$bad" ]
t_result "each rename: file fsynced, renamed, its directory fsynced before the next commit" $? \
	"$(echo "$bad" | head -n 12)"
bad=$(grep '^bad mkdir' "$TMP/order" | sed 's/^bad //')
[ -z "$bad" ]
t_result "each new directory: its parent fsynced before the next commit" $? \
	"$(echo "$bad" | head -n 12)"

wharf_stop
e2e_done
