# catalog_lib.sh — the repository index's checks from outside (issue 17),
# shared by t_catalog_index.sh (filesystem) and t_catalog_s3.sh (storage.s3):
# skopeo pushes through nginx, then GET /_wharf/api/repositories and
# /_wharf/api/search by name, tag, label and digest, paging, the index
# following tag, manifest and repository deletes, and a `kill -9` of every
# worker while manifests are being put, after which `wharf catalog rebuild`
# makes the index agree with storage again.
# shellcheck shell=bash

api() { curl -s "$W_URL$1"; }
api_names() { api "$1" | jq -r '[.repositories[].name] | join(",")' 2>/dev/null; }
api_field() { api "$1" | jq -r ".repositories[] | select(.name == \"$2\") | .$3" 2>/dev/null; }
layout_bytes() { cat "$1"/blobs/sha256/* | wc -c; }

# catalog_checks CONFIG: against the registry at $W_URL configured by CONFIG
catalog_checks() {
	local cfg=$1 R=$W_HOST
	mkimage "$TMP/ia" --tag v1 --layers 2 --size 50000 --seed cat-a --label team=blue >"$TMP/ia.d"
	mkimage "$TMP/ib" --tag v1 --layers 1 --size 30000 --seed cat-b --label team=red >/dev/null
	mkimage "$TMP/ib2" --tag v2 --layers 1 --size 30000 --seed cat-b2 >"$TMP/ib2.d"
	mkimage "$TMP/im" --tag m --multiarch --layers 1 --size 20000 --seed cat-m >/dev/null
	check "push cat/alpha:v1" skopeo_copy oci:"$TMP/ia":v1 docker://$R/cat/alpha:v1 --preserve-digests
	check "push cat/beta:v1" skopeo_copy oci:"$TMP/ib":v1 docker://$R/cat/beta:v1 --preserve-digests
	check "push cat/beta:v2" skopeo_copy oci:"$TMP/ib2":v2 docker://$R/cat/beta:v2 --preserve-digests
	check "push cat/multi:latest (an index)" \
		skopeo_copy oci:"$TMP/im":m docker://$R/cat/multi:latest --all --preserve-digests

	check_eq "list: every repository, in name order" "cat/alpha,cat/beta,cat/multi" \
		"$(api_names /_wharf/api/repositories)"
	check_eq "list: cat/beta has 2 tags" 2 "$(api_field /_wharf/api/repositories cat/beta tags)"
	check_eq "list: cat/alpha's size is its manifest, config and layers" \
		"$(layout_bytes "$TMP/ia")" "$(api_field /_wharf/api/repositories cat/alpha size)"
	check_eq "list: cat/multi's size is its index, manifests, configs and layers" \
		"$(layout_bytes "$TMP/im")" "$(api_field /_wharf/api/repositories cat/multi size)"
	local lp
	lp=$(api_field /_wharf/api/repositories cat/alpha last_push)
	check "list: last_push is RFC 3339 and recent ($lp)" \
		test "$(($(date +%s) - $(date -d "$lp" +%s 2>/dev/null || echo 0)))" -lt 600
	check_eq "list: filter, case-insensitive" "cat/alpha" "$(api_names '/_wharf/api/repositories?filter=ALPH')"
	check_eq "list: page 1 of n=1" "cat/alpha cat/alpha" \
		"$(api '/_wharf/api/repositories?n=1' | jq -r '[.repositories[0].name, .next] | join(" ")')"
	check_eq "list: page 2 after cat/alpha" "cat/beta cat/beta" \
		"$(api '/_wharf/api/repositories?n=1&last=cat/alpha' | jq -r '[.repositories[0].name, .next] | join(" ")')"
	check_eq "list: last page: next is null" "cat/multi null" \
		"$(api '/_wharf/api/repositories?n=1&last=cat/beta' | jq -r '[.repositories[0].name, (.next|tostring)] | join(" ")')"
	check_eq "list: n=0 is refused" PAGINATION_NUMBER_INVALID \
		"$(api '/_wharf/api/repositories?n=0' | jq -r '.errors[0].code')"
	check_eq "list: n=x is refused (400)" 400 \
		"$(curl -s -o /dev/null -w '%{http_code}' "$W_URL/_wharf/api/repositories?n=x")"
	check_eq "_catalog pages of 2: the same names" 'cat/alpha,cat/beta|cat/multi' \
		"$(curl -s "$W_URL/v2/_catalog?n=2" | jq -r '.repositories|join(",")')|$(curl -s "$W_URL/v2/_catalog?n=2&last=cat/beta" | jq -r '.repositories|join(",")')"

	# search
	local q md ld child
	check_eq "search by name" "cat/alpha name" \
		"$(api '/_wharf/api/search?q=alph' | jq -r '.repositories[] | .name + " " + .matched')"
	check_eq "search by tag (exact)" "cat/beta tag:v2" \
		"$(api '/_wharf/api/search?q=v2' | jq -r '.repositories[] | .name + " " + .matched')"
	check_eq "search by label k=v" "cat/alpha label:team=blue" \
		"$(api '/_wharf/api/search?q=team%3Dblue' | jq -r '.repositories[] | .name + " " + .matched')"
	check_eq "search by label key" "cat/alpha,cat/beta" "$(api_names '/_wharf/api/search?q=team')"
	md=$(cat "$TMP/ia.d")
	check_eq "search by a 12-hex manifest digest prefix" "cat/alpha digest:$md" \
		"$(api "/_wharf/api/search?q=${md:7:12}" | jq -r '.repositories[] | .name + " " + .matched')"
	ld=$(jq -r '.layers[0].digest' "$TMP/ib2/blobs/sha256/$(cut -d: -f2 "$TMP/ib2.d")")
	check_eq "search by a full layer digest" "cat/beta" "$(api_names "/_wharf/api/search?q=$ld")"
	child=$(jq -r '.manifests[1].digest' "$TMP/im/blobs/sha256/$(jq -r '.manifests[0].digest' "$TMP/im/index.json" | cut -d: -f2)")
	check_eq "search by an index's child manifest" "cat/multi" "$(api_names "/_wharf/api/search?q=$child")"
	check_eq "search: 11 hex digits are no digest" none "$(api_names "/_wharf/api/search?q=${md:7:11}" | sed 's/^$/none/')"
	check_eq "search: paging after cat/alpha" "cat/beta" "$(api_names '/_wharf/api/search?q=cat&n=1&last=cat/alpha')"
	check_eq "search: a q longer than 256 bytes is refused" 400 \
		"$(curl -s -o /dev/null -w '%{http_code}' "$W_URL/_wharf/api/search?q=$(head -c 300 /dev/zero | tr '\0' a)")"

	# the index follows deletes
	check_eq "delete tag cat/beta:v2" 202 \
		"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/cat/beta/manifests/v2")"
	check_eq "list: cat/beta now has 1 tag" 1 "$(api_field /_wharf/api/repositories cat/beta tags)"
	check_eq "search: the deleted tag is gone" none "$(api_names '/_wharf/api/search?q=v2' | sed 's/^$/none/')"
	check_eq "delete cat/alpha's manifest by digest" 202 \
		"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/cat/alpha/manifests/$md")"
	# (an object store keeps no empty directory: there the repository is gone)
	check_eq "list: cat/alpha has no tag left" "0 0" \
		"$(api '/_wharf/api/repositories?filter=alpha' | jq -r '.repositories[0] | "\(.tags // 0) \(.size // 0)"')"
	check_eq "search: its label is gone" "cat/beta" "$(api_names '/_wharf/api/search?q=team')"
	check "wharf repository delete cat/alpha" "$WHARF_BIN" repository delete -c "$cfg" cat/alpha
	check_eq "list: cat/alpha is gone" "cat/beta,cat/multi" "$(api_names /_wharf/api/repositories)"
	check_eq "_catalog: cat/alpha is gone" "cat/beta,cat/multi" \
		"$(curl -s "$W_URL/v2/_catalog" | jq -r '.repositories|join(",")')"

	# kill -9 every worker while tags are being put, then rebuild
	local man i k
	check "push cat/crash:t0" skopeo_copy oci:"$TMP/ib2":v2 docker://$R/cat/crash:t0 --preserve-digests
	man=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$W_URL/v2/cat/crash/manifests/t0")
	(
		for i in $(seq 1 "${CAT_CRASH_PUTS:-300}"); do
			curl -s -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
				--data-binary "$man" "$W_URL/v2/cat/crash/manifests/t$i"
		done
	) &
	local loop=$!
	for k in 1 2 3 4; do
		sleep "${CAT_CRASH_SLEEP:-0.4}"
		kill -9 $(wharf_children) 2>/dev/null
	done
	wait "$loop"
	sleep 0.5
	local tl
	tl=$(curl -s "$W_URL/v2/cat/crash/tags/list?n=10000" | jq '.tags | length')
	check "some tags of cat/crash were put ($tl)" test "${tl:-0}" -gt 0
	local out
	out=$("$WHARF_BIN" catalog rebuild -c "$cfg" 2>&1)
	check "wharf catalog rebuild after the kills ($out)" grep -q '^3 repositories;' <<<"$out"
	# storage's tags: those that resolve (a kill between a tag's index link
	# and its current link leaves a directory tags/list shows, but no tag)
	local urls=() t ok
	for t in $(curl -s "$W_URL/v2/cat/crash/tags/list?n=10000" | jq -r '.tags[]'); do
		urls+=("$W_URL/v2/cat/crash/manifests/$t")
	done
	ok=$(curl -s -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' -o /dev/null \
		-w '%{http_code}\n' "${urls[@]}" | grep -c '^200$')
	check_eq "list: cat/crash's tag count is the count of its tags that resolve" \
		"$ok" "$(api_field /_wharf/api/repositories cat/crash tags)"
	out=$("$WHARF_BIN" catalog rebuild -c "$cfg" --dry-run 2>&1)
	check_eq "a second rebuild finds nothing to change" \
		"3 repositories; 0 markers would be added, 0 would be rewritten, 0 would be removed" "$out"
}
