#!/usr/bin/env bash
# t_gc_maint.sh — the master's maintenance: upload purging
# (storage.maintenance.uploadpurging with a short age and interval) removes
# abandoned uploads by their startedat and keeps young ones; read-only mode
# (storage.maintenance.readonly.enabled) switched on and off by a reload
# (SIGHUP), without a restart: writes get 405, pulls keep working; one
# garbage collection at a time on a root.
source "$(dirname "$0")/lib.sh"
e2e_init
need=$(need_cmd skopeo curl) || { t_skip "maintenance" "$need"; e2e_done; exit; }

export REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED=true
export REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE=4s
export REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL=1s
wharf_start || { t_fail "wharf starts"; e2e_done; exit; }
unset REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE \
	REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL
V2=$W_ROOT/docker/registry/v2

# ---- upload purging
old=$V2/repositories/pu/old/_uploads/0b2a4a38-5d3c-4a55-9d5e-6c0d7c4e0001
mkdir -p "$old/hashstates/sha256"
printf '2020-01-01T00:00:00Z' >"$old/startedat"
printf 'abandoned' >"$old/data"
nostart=$V2/repositories/pu/old/_uploads/0b2a4a38-5d3c-4a55-9d5e-6c0d7c4e0002
mkdir -p "$nostart"
printf 'no startedat, old mtime' >"$nostart/data"
touch -d '2021-01-01' "$nostart/data" "$nostart"
loc=$(curl -si -X POST "$W_URL/v2/pu/new/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
uuid=${loc##*/}
uuid=${uuid%%\?*}
check "a fresh upload started" test -d "$V2/repositories/pu/new/_uploads/$uuid"
sleep 2.5
check "an upload started in 2020 is purged" test ! -e "$old"
check "an upload without startedat, older than age, is purged" test ! -e "$nostart"
check "a fresh upload (younger than age) is kept" test -d "$V2/repositories/pu/new/_uploads/$uuid"
for i in $(seq 1 50); do
	[ -d "$V2/repositories/pu/new/_uploads/$uuid" ] || break
	sleep 0.2
done
check "the same upload is purged once older than age" test ! -e "$V2/repositories/pu/new/_uploads/$uuid"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH --data-binary x "$W_URL/v2/pu/new/blobs/uploads/$uuid")
check_eq "a purged upload is unknown (404)" 404 "$code"
check "the master logged the purges" grep -q 'upload purging: [1-9][0-9]* upload' "$W_DIR/wharf.log"

# ---- read-only switched by reload
mkimage "$TMP/img" --layers 1 --size 2000 --seed maint >/dev/null
check "push before read-only" skopeo_copy "oci:$TMP/img:latest" "docker://$W_HOST/ro/a:1"
sed -i 's/^storage:$/storage:\n  maintenance:\n    readonly:\n      enabled: true/' "$W_DIR/config.yml"
kill -HUP "$W_PID"
for i in $(seq 1 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$W_URL/v2/ro/a/blobs/uploads/")
	[ "$code" = 405 ] && break
	sleep 0.1
done
check_eq "after reload with readonly: a push is refused (405)" 405 "$code"
check "after reload with readonly: pulls work" skopeo_copy "docker://$W_HOST/ro/a:1" "oci:$TMP/pull1:x"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/ro/a/manifests/$(oci_top_digest "$TMP/img")")
check_eq "after reload with readonly: a delete is refused (405)" 405 "$code"
sed -i '/^  maintenance:$/,/^      enabled: true$/d' "$W_DIR/config.yml"
kill -HUP "$W_PID"
for i in $(seq 1 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$W_URL/v2/ro/a/blobs/uploads/")
	[ "$code" = 202 ] && break
	sleep 0.1
done
check_eq "after reload without readonly: uploads accepted again (202)" 202 "$code"
check "after reload without readonly: push works" skopeo_copy "oci:$TMP/img:latest" "docker://$W_HOST/ro/a:2"
check_eq "the master was never restarted" "$(cat "$W_DIR/wharf.pid")" "$W_PID"

# ---- one garbage collection at a time
# a run that holds the root (online, 4 s settle) and a second one started meanwhile
"$WHARF_BIN" garbage-collect --online --settle-ms 4000 "$W_DIR/config.yml" >"$TMP/gc1.log" 2>&1 &
gc1=$!
track_pid "$gc1"
sleep 1
"$WHARF_BIN" garbage-collect --online "$W_DIR/config.yml" >"$TMP/gc2.log" 2>&1
check_eq "gc: a second run while one is running is refused (exit 1)" 1 "$?"
check "gc: it says another collection is running" grep -q "another garbage collection is running" "$TMP/gc2.log"
check "gc: a dry run takes no lock" "$WHARF_BIN" garbage-collect --dry-run "$W_DIR/config.yml"
wait "$gc1"
check_eq "gc: the first run finishes" 0 "$?"
check "gc: a run after it proceeds" "$WHARF_BIN" garbage-collect --online "$W_DIR/config.yml"
check "gc: the lock leaves no file in the root" test -z "$(find "$V2" -path '*_wharf_gc*' -type f)"
# a run killed while holding the lock: the kernel releases it
WHARF_GC_TEST_KILL=settle:0 bash -c '"$1" garbage-collect --online "$2"; exit $?' _ "$WHARF_BIN" \
	"$W_DIR/config.yml" >/dev/null 2>&1
check_eq "gc: a run killed at the settle step (SIGKILL)" 137 "$?"
check "gc: after a run killed mid-way the next one proceeds" \
	"$WHARF_BIN" garbage-collect --online "$W_DIR/config.yml"
wharf_stop
e2e_done
