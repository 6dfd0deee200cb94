# gc_lib.sh — helpers shared by the t_gc_*.sh tests (source after lib.sh).
# shellcheck shell=bash
GCROOT="$E2E_DIR/fixtures/gcroot.py"
gcroot() { "$PYTHON" "$GCROOT" "$@"; }

# gc_cfg FILE ROOT: a minimal config.yml (reference schema) for offline GC runs.
gc_cfg() {
	cat >"$1" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
http:
  addr: 127.0.0.1:1
EOC
}
# files ROOT: every file under ROOT, relative, sorted.
files() { (cd "$1" && find . -type f | sort); }
# ref_gc ROOT [flags]: the reference's garbage-collect on ROOT (output in ROOT.ref.out).
ref_gc() {
	local root=$1
	shift
	gc_cfg "$root.yml" "$root"
	docker-registry garbage-collect "$@" "$root.yml" >"$root.ref.out" 2>&1
}
# wharf_gc ROOT [flags]: Wharf's garbage-collect on ROOT (output in ROOT.wharf.out).
wharf_gc() {
	local root=$1
	shift
	gc_cfg "$root.yml" "$root"
	"$WHARF_BIN" garbage-collect "$@" "$root.yml" >"$root.wharf.out" 2>&1
}
# summary FILE: the reference's "N blobs marked, ..." line.
summary() { grep -o '[0-9]* blobs marked, [0-9]* blobs and [0-9]* manifests eligible for deletion' "$1" | head -n 1; }
