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

# push_make N: new content for push N in $TMP/pN.* (random: nothing of an
# earlier push is reused, so every commit point writes something new).
push_make() {
	local p=$TMP/p$1
	head -c $((256 * 1024 + RANDOM)) /dev/urandom >"$p.layer"
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":"%s-%s"}' \
		"$1" "$RANDOM$RANDOM" >"$p.cfg"
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$OCI_MANIFEST" \
		"$(desc $OCI_CONFIG "$p.cfg")" "$(desc $OCI_LAYER "$p.layer")" >"$p.image"
	printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":%s,"layers":[%s],"subject":%s}' \
		"$OCI_MANIFEST" "$(desc $OCI_CONFIG "$p.cfg")" "$(desc $OCI_LAYER "$p.layer")" \
		"$(desc $OCI_MANIFEST "$p.image")" >"$p.ref"
}

# push_step REPO TAG N STEP: one step; 0 when the registry acknowledged it.
push_step() {
	local repo=$1 tag=$2 p=$TMP/p$3 loc sep
	case $4 in
	layer)
		req POST "$U/v2/$repo/blobs/uploads/"
		[ "$ST" = 202 ] || return 1
		loc=$(hdr Location)
		case $loc in /*) loc=$U$loc ;; esac
		req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$p.layer"
		[ "$ST" = 202 ] || return 1
		loc=$(hdr Location)
		case $loc in /*) loc=$U$loc ;; esac
		sep='?'
		case $loc in *\?*) sep='&' ;; esac
		req PUT "$loc${sep}digest=$(sha "$p.layer")"
		[ "$ST" = 201 ]
		;;
	config)
		put_blob "$repo" "$p.cfg" >/dev/null
		[ "$ST" = 201 ]
		;;
	image)
		put_manifest "$repo" "$tag" "$p.image" "$OCI_MANIFEST"
		[ "$ST" = 201 ]
		;;
	ref)
		put_manifest "$repo" "$(sha "$p.ref")" "$p.ref" "$OCI_MANIFEST"
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
			curl -sf -o "$TMP/got" "$U/v2/$repo/blobs/$(sha "$f")" && cmp -s "$f" "$TMP/got" ||
				{ echo "$s: blob $(sha "$f") not readable or different"; bad=1; }
			;;
		image)
			curl -sf -H "Accept: $OCI_MANIFEST" -o "$TMP/got" "$U/v2/$repo/manifests/$tag" &&
				cmp -s "$p.image" "$TMP/got" || { echo "image: tag $tag not readable or different"; bad=1; }
			;;
		ref)
			curl -sf -H "Accept: $OCI_MANIFEST" -o "$TMP/got" "$U/v2/$repo/manifests/$(sha "$p.ref")" &&
				cmp -s "$p.ref" "$TMP/got" || { echo "ref: manifest not readable or different"; bad=1; }
			curl -sf -o "$TMP/got" "$U/v2/$repo/referrers/$(sha "$p.image")" &&
				jq -e --arg d "$(sha "$p.ref")" '[.manifests[].digest] | index($d) != null' "$TMP/got" >/dev/null ||
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
	find "$dir" -mindepth 3 -maxdepth 3 -type f -name data -printf '%h\n' | while read -r d; do
		h=$(sha256sum <"$d/data" | cut -d' ' -f1)
		[ "$h" = "${d##*/}" ] || echo "blob ${d##*/} holds bytes hashing to $h"
	done | awk '{ print } END { exit NR > 0 }'
}
