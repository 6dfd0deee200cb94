# commit_lib.sh — one push that passes every commit point of the storage
# layer, for t_crash.sh (kill -9 at each one) and t_fsync.sh (the order of
# write, fsync, rename, fsync dir at each one):
#   layer   POST, PATCH, PUT ?digest=   upload start, hash state, blob move, layer link
#   config  POST ?digest= (monolithic)  the same in one request
#   image   PUT manifests/<tag>         manifest blob, revision link, tag index, tag current
#   ref     PUT manifests/<digest>      manifest with a subject: referrer link
# shellcheck shell=bash
# Source after lib.sh and api_lib.sh. U is the registry base URL.

PUSH_STEPS="layer config image ref"
declare -A PUSH_DG=() # file -> its digest (files of push_make never change)

# push_make N: new content for push N in $TMP/pN.* (random: nothing of an
# earlier push is reused, so every commit point writes something new), and
# PUSH_DG[file] its digests. One python run: forks are what a loaded CI host
# is slow at.
push_make() {
	local f d
	"$PYTHON" - "$TMP/p$1" "$1" >"$TMP/p$1.dg" <<'PY'
import hashlib, json, os, sys
p, n = sys.argv[1], sys.argv[2]
def dg(b): return "sha256:" + hashlib.sha256(b).hexdigest()
def desc(mt, b): return {"mediaType": mt, "digest": dg(b), "size": len(b)}
M = "application/vnd.oci.image.manifest.v1+json"
layer = os.urandom(128 * 1024 + int.from_bytes(os.urandom(2), "big"))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                  "n": n + "-" + os.urandom(8).hex()}).encode()
ds = [desc("application/vnd.oci.image.config.v1+json", cfg),
      desc("application/vnd.oci.image.layer.v1.tar+gzip", layer)]
image = json.dumps({"schemaVersion": 2, "mediaType": M, "config": ds[0], "layers": [ds[1]]}).encode()
ref = json.dumps({"schemaVersion": 2, "mediaType": M, "artifactType": "application/vnd.example.sig",
                  "config": ds[0], "layers": [ds[1]], "subject": desc(M, image)}).encode()
for name, b in (("layer", layer), ("cfg", cfg), ("image", image), ("ref", ref)):
    open(p + "." + name, "wb").write(b)
    print(p + "." + name, dg(b))
PY
	while read -r f d; do PUSH_DG[$f]=$d; done <"$TMP/p$1.dg"
}

# push_step REPO TAG N STEP: one step; 0 when the registry acknowledged it.
push_step() {
	local repo=$1 tag=$2 p=$TMP/p$3 loc sep
	BODY=$TMP/resp.body
	case $4 in
	layer)
		# the Location from curl itself (%header): no tr/awk per request
		read -r ST loc < <(curl -s -X POST -o "$TMP/resp.body" -w '%{http_code} %header{location}' \
			"$U/v2/$repo/blobs/uploads/")
		[ "$ST" = 202 ] || return 1
		case $loc in /*) loc=$U$loc ;; esac
		read -r ST loc < <(curl -s -X PATCH -o "$TMP/resp.body" -w '%{http_code} %header{location}' \
			-H 'Content-Type: application/octet-stream' --data-binary @"$p.layer" "$loc")
		[ "$ST" = 202 ] || return 1
		case $loc in /*) loc=$U$loc ;; esac
		sep='?'
		case $loc in *\?*) sep='&' ;; esac
		req PUT "$loc${sep}digest=${PUSH_DG[$p.layer]}"
		[ "$ST" = 201 ]
		;;
	config)
		req POST "$U/v2/$repo/blobs/uploads/?digest=${PUSH_DG[$p.cfg]}" \
			-H 'Content-Type: application/octet-stream' --data-binary @"$p.cfg"
		[ "$ST" = 201 ]
		;;
	image)
		put_manifest "$repo" "$tag" "$p.image" "$OCI_MANIFEST"
		[ "$ST" = 201 ]
		;;
	ref)
		put_manifest "$repo" "${PUSH_DG[$p.ref]}" "$p.ref" "$OCI_MANIFEST"
		[ "$ST" = 201 ]
		;;
	esac
}

# push_run REPO TAG N: push N's steps in order, stopping at the first one not
# acknowledged (as a client does). PUSH_ACKED: the steps acknowledged;
# PUSH_FAILED: the one that was not ("" when all were), with its status.
push_run() {
	local s
	PUSH_ACKED=
	PUSH_FAILED=
	for s in $PUSH_STEPS; do
		if push_step "$1" "$2" "$3" "$s"; then
			PUSH_ACKED="$PUSH_ACKED $s"
		else
			PUSH_FAILED="$s ($ST)"
			return 1
		fi
	done
}

# push_readable REPO TAG N STEPS...: every step given is readable back,
# byte-identical (a referrer also listed under its subject). Prints what is not.
push_readable() {
	local repo=$1 tag=$2 p=$TMP/p$3 s bad=0
	shift 3
	for s in "$@"; do
		case $s in
		layer | config)
			local f=$p.$s
			[ "$s" = config ] && f=$p.cfg
			curl -sf -o "$TMP/got" "$U/v2/$repo/blobs/${PUSH_DG[$f]}" && cmp -s "$f" "$TMP/got" ||
				{ echo "$s: blob ${PUSH_DG[$f]} not readable or different"; bad=1; }
			;;
		image)
			curl -sf -H "Accept: $OCI_MANIFEST" -o "$TMP/got" "$U/v2/$repo/manifests/$tag" &&
				cmp -s "$p.image" "$TMP/got" || { echo "image: tag $tag not readable or different"; bad=1; }
			;;
		ref)
			curl -sf -H "Accept: $OCI_MANIFEST" -o "$TMP/got" "$U/v2/$repo/manifests/${PUSH_DG[$p.ref]}" &&
				cmp -s "$p.ref" "$TMP/got" || { echo "ref: manifest not readable or different"; bad=1; }
			curl -sf -o "$TMP/got" "$U/v2/$repo/referrers/${PUSH_DG[$p.image]}" &&
				jq -e --arg d "${PUSH_DG[$p.ref]}" '[.manifests[].digest] | index($d) != null' "$TMP/got" >/dev/null ||
				{ echo "ref: not listed under its subject"; bad=1; }
			;;
		esac
	done
	return $bad
}

# store_blobs_consistent ROOT: every blob data file of the distribution layout
# hashes to the digest it is stored under. Prints the ones that do not.
store_blobs_consistent() {
	local dir=$1/docker/registry/v2/blobs/sha256
	[ -d "$dir" ] || return 0
	find "$dir" -mindepth 3 -maxdepth 3 -type f -name data -exec sha256sum {} + |
		awk '{ n = split($2, p, "/"); if (p[n - 1] != $1) { print "blob " p[n - 1] " holds bytes hashing to " $1; bad = 1 } }
			END { exit bad }'
}
