#!/usr/bin/env bash
# t_gc_kill.sh — SIGKILL of garbage-collect at several points (mark phase,
# among the manifest deletions, among the blob deletions, online quarantine
# and settle) leaves a root that both Wharf and the reference serve without
# error (every tag pulls, digests verified); a later run finishes the job and
# ends with the same files as the reference's uninterrupted run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/gc_lib.sh"
e2e_init
need=$(need_cmd docker-registry) || { t_skip "gc kill" "$need"; e2e_done; exit; }

gcroot bench "$TMP/orig" --manifests 120 --blobs 600 --repos 12 >/dev/null
cp -a "$TMP/orig" "$TMP/expect"
ref_gc "$TMP/expect" --delete-untagged
expect_files=$(files "$TMP/expect")

# serve ROOT NAME: both registries pull every tag of ROOT
serve_both() {
	local root=$1 name=$2
	if wharf_start "$root"; then
		check "$name: wharf serves every tag" gcroot pull "$W_URL"
		wharf_stop
	else
		t_fail "$name: wharf starts"
	fi
	if refreg_start "$TMP/ref-$name" "$root"; then
		check "$name: the reference serves every tag" gcroot pull "http://$R_HOST"
		refreg_stop
	else
		t_fail "$name: the reference starts"
	fi
}

n=0
for point in manifest:3 blob:30 quarantine:40 settle:0 timer; do
	n=$((n + 1))
	root=$TMP/k$n
	cp -a "$TMP/orig" "$root"
	gc_cfg "$root.yml" "$root"
	before=$(files "$root" | wc -l)
	flags=(-m)
	case $point in quarantine:* | settle:*) flags=(-m --online --grace 0 --settle-ms 200) ;; esac
	if [ "$point" = timer ]; then
		"$WHARF_BIN" garbage-collect "${flags[@]}" "$root.yml" >"$root.out" 2>&1 &
		pid=$!
		sleep 0.05
		kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		st=$?
	else
		WHARF_GC_TEST_KILL=$point "$WHARF_BIN" garbage-collect "${flags[@]}" "$root.yml" >"$root.out" 2>&1
		st=$?
	fi
	after=$(files "$root" | wc -l)
	if [ "$point" != timer ]; then
		check_eq "killed at $point (SIGKILL)" 137 "$st"
	fi
	diag "killed at $point: $before files before, $after after"
	serve_both "$root" "killed-$point"
	wharf_gc "$root" -m
	# wharf/ is Wharf's own catalog index (built by serving), not part of the reference's tree
	d=$(diff <(echo "$expect_files") <(files "$root" | grep -v -e '/_wharf_gc/' -e '^./wharf/'))
	[ -z "$d" ] && t_ok "killed at $point: a new run ends where the reference's uninterrupted run does" ||
		t_fail "killed at $point: a new run ends where the reference's uninterrupted run does" \
			"$(echo "$d" | head -n 20)" "$(tail -n 3 "$root.wharf.out")"
done
e2e_done
