#!/usr/bin/env bash
# wharf config check prints the whole resolved configuration, generated from
# the schema tables (lib/config_schema.c): storage.maintenance with its gc
# block, values from the file and REGISTRY_* alike, secrets masked; the
# output loads back unchanged.
source "$(dirname "$0")/lib.sh"
e2e_init
[ "$E2E_TARGET" = reference ] && { t_skip "config check" "Wharf only"; exit 0; }

cat >"$TMP/config.yml" <<YML
version: 0.1
storage:
  filesystem: {rootdirectory: $TMP/root}
  maintenance:
    gc: {enabled: true, interval: 2h}
http:
  secret: do-not-print
YML
out=$(REGISTRY_STORAGE_MAINTENANCE_GC_DRYRUN=true "$WHARF_BIN" config check -c "$TMP/config.yml")
check "config check prints storage.maintenance" grep -qx '  maintenance:' <<<"$out"
check "config check prints storage.maintenance.gc from the file" \
	bash -c "grep -A3 -x '    gc:' | grep -qx '      interval: 7200s'" <<<"$out"
check "config check prints a REGISTRY_* override" \
	bash -c "grep -A5 -x '    gc:' | grep -qx '      dryrun: true'" <<<"$out"
check "config check masks the secret" grep -qx '  secret: "\*\*\*\*\*"' <<<"$out"
check "config check does not print the secret" bash -c '! grep -q do-not-print' <<<"$out"
check "config check prints the storage root" \
	grep -qx "    rootdirectory: \"$TMP/root\"" <<<"$out"
printf '%s\n' "$out" >"$TMP/resolved.yml"
check_eq "the output loads back unchanged" "$out" "$("$WHARF_BIN" config check -c "$TMP/resolved.yml")"
