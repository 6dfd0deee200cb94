#!/usr/bin/env bash
# OCI Distribution Spec 1.1 conformance, written from the spec text (not from
# what Wharf does): every endpoint of the spec's table (end-1 .. end-13),
# their statuses, the error codes (code-1 .. code-14), and the headers the
# spec names (Location, Docker-Content-Digest, Range, Content-Range,
# Content-Length, OCI-Subject, OCI-Filters-Applied, Link, Docker-Upload-UUID,
# OCI-Chunk-Min-Length), per workflow category (pull, push, content
# discovery, content management). The HTTP work is
# conformance/conformance.py (python3 stdlib); each test's name carries its
# category, endpoint id and spec section.
#
# Two registries behind nginx: one with storage.delete.enabled true (the
# harness default) for everything, one with delete disabled (env override
# REGISTRY_STORAGE_DELETE_ENABLED=false) for the "deletion disabled" lines.
#
# WHARF_E2E_TARGET=reference runs the same checks against the reference
# registry: its known deviations from the spec (no referrers API, 202 for
# out-of-order chunks, n/last ignored, ...) show up as failures there.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx "$PYTHON"); then
	t_skip "OCI conformance" "$why"
	exit 0
fi

# run_suite MODE: run conformance.py against $W_URL, add its TAP counts to ours.
run_suite() {
	local out=$TMP/conformance-$1.out p f s
	"$PYTHON" "$E2E_DIR/conformance/conformance.py" "$W_URL" "$1" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 0 ] || t_fail "conformance.py $1 exited with an error"
	p=$(grep -c '^ok ' "$out")
	s=$(grep -cE '^ok .*# SKIP' "$out")
	f=$(grep -c '^not ok ' "$out")
	[ "$p" -gt 0 ] || t_fail "conformance.py $1 printed no result"
	T_PASS=$((T_PASS + p))
	T_SKIP=$((T_SKIP + s))
	T_FAIL=$((T_FAIL + f))
}

wharf_start || { t_fail "registry starts"; exit 1; }
run_suite main
wharf_stop

export REGISTRY_STORAGE_DELETE_ENABLED=false
wharf_start || { t_fail "registry (delete disabled) starts"; exit 1; }
unset REGISTRY_STORAGE_DELETE_ENABLED
run_suite delete-disabled
wharf_stop

e2e_done
