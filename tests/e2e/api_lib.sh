# api_lib.sh — helpers for the t_api_*.sh tests: plain-HTTP pushes with curl.
# shellcheck shell=bash
# Source after lib.sh. U is the registry base URL (set by the test).

# req METHOD URL [curl args...]: sets ST (status), BODY (file), HDRS (file).
req() {
	local m=$1 url=$2
	shift 2
	BODY=$TMP/resp.body
	HDRS=$TMP/resp.hdrs
	# HEAD with -I: `-X HEAD` makes curl wait for a body of Content-Length bytes
	if [ "$m" = HEAD ]; then
		ST=$(curl -s -I -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$url")
	else
		ST=$(curl -s -X "$m" -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$url")
	fi
}
# hdr NAME: a header of the last req (case-insensitive), CR stripped.
hdr() { tr -d '\r' <"$HDRS" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" 'tolower($1) == h":" { sub(/^[^:]*: */, ""); print; exit }'; }
# errcode: the first error code of the last req's body.
errcode() { jq -r '.errors[0].code' <"$BODY" 2>/dev/null; }
sha() { echo "sha256:$(sha256sum <"$1" | cut -d' ' -f1)"; }
fsize() { stat -c %s "$1"; }

# put_blob REPO FILE: monolithic upload; prints the digest; status in ST.
put_blob() {
	local d
	d=$(sha "$2")
	req POST "$U/v2/$1/blobs/uploads/?digest=$d" -H 'Content-Type: application/octet-stream' --data-binary @"$2"
	echo "$d"
}
# put_manifest REPO REF FILE CONTENT-TYPE: status in ST, headers in HDRS.
put_manifest() {
	req PUT "$U/v2/$1/manifests/$2" -H "Content-Type: $4" --data-binary @"$3"
}
# desc MEDIATYPE FILE: a descriptor JSON for a file.
desc() { printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$(sha "$2")" "$(fsize "$2")"; }

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_EMPTY=application/vnd.oci.empty.v1+json
OCI_CONFIG=application/vnd.oci.image.config.v1+json
OCI_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
D2_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
D2_LIST=application/vnd.docker.distribution.manifest.list.v2+json
D2_CONFIG=application/vnd.docker.container.image.v1+json
D2_LAYER=application/vnd.docker.image.rootfs.diff.tar.gzip

# mk_image REPO NAME: push a small OCI image (config + one layer) to REPO and
# write its manifest to $TMP/NAME.json (not pushed). Files $TMP/NAME.{cfg,layer}.
mk_image() {
	local repo=$1 n=$2
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":"%s"}' "$n" >"$TMP/$n.cfg"
	head -c 2048 /dev/urandom >"$TMP/$n.layer"
	put_blob "$repo" "$TMP/$n.cfg" >/dev/null
	put_blob "$repo" "$TMP/$n.layer" >/dev/null
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$OCI_MANIFEST" \
		"$(desc $OCI_CONFIG "$TMP/$n.cfg")" "$(desc $OCI_LAYER "$TMP/$n.layer")" >"$TMP/$n.json"
}
