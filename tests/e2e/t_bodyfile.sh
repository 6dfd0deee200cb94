#!/usr/bin/env bash
# Upload bodies received by nginx into files that Wharf adopts (issue 12):
# monolithic POST ?digest=, chunked PATCH (Transfer-Encoding: chunked, as
# podman and buildah send), PATCHes with Content-Range (the second one
# appended with copy_file_range), the body file left in the body directory by
# none of them; and a forged body-file path is never read nor moved: a client
# header (Wharf-Body-File, WHARF_BODY_FILE; Wharf-Body-Failed changes nothing
# either), and over Wharf's FastCGI socket
# directly a path outside the body directory, "..", a symbolic link inside it
# pointing outside, a hard link, a directory link, a relative path; with
# bodyfiles: false the parameter is ignored altogether (WHARF_BODY_FAILED too).
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl nginx sha256sum "$PYTHON"); then
	t_skip "body files" "$why"
	exit 0
fi
FCGI=$E2E_DIR/fixtures/fcgi_client.py
WHARF_E2E_LOGLEVEL=debug wharf_start || { t_fail "registry starts"; exit 1; }
BODY=$W_ROOT/wharf/body
check "wharf config check: bodyfiles on, bodydir under the root" \
	bash -c "'$WHARF_BIN' config check -c '$W_DIR/config.yml' | grep -A2 '^  uploads:' | grep -qx '    bodydir: \"$BODY\"'"

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# start REPO: a new upload's path (/v2/.../blobs/uploads/<uuid>)
start() {
	curl -s -o /dev/null -D - -X POST "$W_URL/v2/$1/blobs/uploads/" |
		tr -d '\r' | sed -n 's|^Location: http://[^/]*||p'
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

head -c 3000000 /dev/urandom >"$TMP/a"
head -c 1000000 /dev/urandom >"$TMP/b"
cat "$TMP/a" "$TMP/b" >"$TMP/ab"

# ---- monolithic POST ?digest= ----
c=$(code -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a" \
	"$W_URL/v2/bf/one/blobs/uploads/?digest=$(sha "$TMP/a")")
check_eq "monolithic POST ?digest=: 201" 201 "$c"
curl -s -o "$TMP/a.got" "$W_URL/v2/bf/one/blobs/$(sha "$TMP/a")"
check "monolithic: the blob reads back" cmp -s "$TMP/a" "$TMP/a.got"
check "monolithic: taken from a body file (debug log)" grep -q 'bytes from body file '"$BODY"'/' "$W_DIR/wharf.log"
f=$(store_blob_path "$W_ROOT" "$(sha "$TMP/a")")
check_eq "adopted file: Wharf's mode and owner" "644 $(id -u)" "$(stat -c '%a %u' "$f")"
check_eq "adopted file: one link left (nginx removed its name)" 1 "$(stat -c %h "$f")"

# ---- chunked PATCH, then PUT without body ----
loc=$(start bf/two)
c=$(code -X PATCH -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/ab" "$W_URL$loc")
check_eq "chunked PATCH: 202" 202 "$c"
c=$(code -X PUT "$W_URL$loc?digest=$(sha "$TMP/ab")")
check_eq "chunked PATCH: PUT commits 201" 201 "$c"
curl -s -o "$TMP/ab.got" "$W_URL/v2/bf/two/blobs/$(sha "$TMP/ab")"
check "chunked PATCH: the blob reads back" cmp -s "$TMP/ab" "$TMP/ab.got"
check "chunked PATCH came chunked through nginx" grep -q 'PATCH .* te="chunked"' "$W_DIR/nginx-access.log"

# ---- a repository named .../blobs/uploads: its uploads are uploads, its
# manifest PUT is not (the upload location is anchored at the end) ----
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/cfg"
c=$(code -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/cfg" \
	"$W_URL/v2/bf/blobs/uploads/blobs/uploads/?digest=$(sha "$TMP/cfg")")
check_eq "repository bf/blobs/uploads: monolithic POST 201" 201 "$c"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' \
	"$(sha "$TMP/cfg")" "$(stat -c %s "$TMP/cfg")" >"$TMP/man"
c=$(code -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$TMP/man" \
	"$W_URL/v2/bf/blobs/uploads/manifests/v1")
check_eq "repository bf/blobs/uploads: manifest PUT 201 (not taken for an upload)" 201 "$c"
curl -s -o "$TMP/man.got" "$W_URL/v2/bf/blobs/uploads/manifests/v1"
check "repository bf/blobs/uploads: the manifest reads back" cmp -s "$TMP/man" "$TMP/man.got"

# ---- two PATCHes with Content-Range (the second appended), PUT with a body ----
loc=$(start bf/three)
c=$(code -X PATCH -H 'Content-Range: 0-2999999' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/a" "$W_URL$loc")
check_eq "Content-Range PATCH 1: 202" 202 "$c"
c=$(code -X PATCH -H 'Content-Range: 0-999999' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/b" "$W_URL$loc")
check_eq "PATCH at the wrong offset: 416" 416 "$c"
c=$(code -X PATCH -H 'Content-Range: 3000000-3000009' -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b" "$W_URL$loc")
check_eq "chunked PATCH whose size is not its Content-Range: 400" 400 "$c"
c=$(code -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b" \
	"$W_URL$loc?digest=$(sha "$TMP/ab")")
check_eq "PUT with the last chunk: 201" 201 "$c"
curl -s -o "$TMP/ab3.got" "$W_URL/v2/bf/three/blobs/$(sha "$TMP/ab")"
check "two chunks: the blob reads back" cmp -s "$TMP/ab" "$TMP/ab3.got"
# zero-length PATCH: nginx may pass no file
loc=$(start bf/four)
c=$(code -X PATCH -H 'Content-Type: application/octet-stream' --data-binary '' "$W_URL$loc")
check_eq "empty PATCH: 202" 202 "$c"
sleep 0.5
check "the body directory is empty afterwards" test -z "$(ls -A "$BODY")"

# ---- forged paths ----
printf 'TOP SECRET\n' >"$TMP/secret"
chmod 644 "$TMP/secret"
SECRET_INODE=$(stat -c %i "$TMP/secret")
printf 'abc' >"$TMP/abc"
ABC=$(sha "$TMP/abc")
SECRET=$(sha "$TMP/secret")
secret_intact() {
	[ "$(cat "$TMP/secret")" = "TOP SECRET" ] && [ "$(stat -c %i "$TMP/secret")" = "$SECRET_INODE" ] &&
		[ ! -e "$(store_blob_path "$W_ROOT" "$SECRET")" ]
}
for h in "Wharf-Body-File: $TMP/secret" "WHARF_BODY_FILE: $TMP/secret" "X-Wharf-Body-File: $TMP/secret" \
	"Wharf-Body-Failed: 1" "WHARF_BODY_FAILED: 1"; do
	loc=$(start bf/forged)
	c=$(code -X PATCH -H "$h" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/abc" "$W_URL$loc")
	check_eq "client header '${h%%:*}': 202, its own body taken" 202 "$c"
	c=$(code -X PUT "$W_URL$loc?digest=$ABC")
	check_eq "client header '${h%%:*}': the upload holds the body, not the file" 201 "$c"
done
check "client headers: the file outside is untouched" secret_intact

# straight to the socket: what only a local process could send
fcgi() { # fcgi METHOD URI BODYFILE CONTENT_LENGTH [stdin file]
	"$PYTHON" "$FCGI" "$W_SOCK" REQUEST_METHOD="$1" REQUEST_URI="$2" QUERY_STRING="${2#*\?}" \
		CONTENT_LENGTH="$4" CONTENT_TYPE=application/octet-stream SERVER_NAME=localhost \
		SERVER_PORT="${W_HOST##*:}" HTTP_HOST="$W_HOST" REQUEST_SCHEME=http SERVER_PROTOCOL=HTTP/1.1 \
		GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 WHARF_BODY_FILE="$3" <"${5:-/dev/null}"
}
mkdir -p "$BODY/sub"
ln -sf "$TMP/secret" "$BODY/link"
ln -f "$TMP/secret" "$BODY/hard" 2>/dev/null || cp "$TMP/secret" "$BODY/hard"
ln -sfn "$TMP" "$BODY/dirlink"
SECRET_INODE=$(stat -c %i "$TMP/secret")
n=0
for p in "$TMP/secret" "$BODY/../../../secret" "$BODY/../body/link" "$BODY/link" "$BODY/hard" \
	"$BODY/dirlink/secret" "$BODY/sub/../link" "$BODY//link" "secret" "$BODY/sub" "$BODY/nonexistent"; do
	n=$((n + 1))
	loc=$(start bf/direct)
	out=$(fcgi PATCH "$loc" "$p" 11)
	st=$(printf '%s' "$out" | tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p')
	check_eq "socket, WHARF_BODY_FILE=${p#"$TMP"/}: refused with 500" 500 "$st"
	c=$(code -X PATCH -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/abc" "$W_URL$loc")
	c2=$(code -X PUT "$W_URL$loc?digest=$ABC")
	check_eq "socket, WHARF_BODY_FILE=${p#"$TMP"/}: nothing appended" "202 201" "$c $c2"
done
check "socket: the file outside is untouched, no blob of it" secret_intact
check_eq "socket: the links are still there" "link hard dirlink" \
	"$(for f in link hard dirlink; do [ -L "$BODY/$f" ] || [ -f "$BODY/$f" ] && printf '%s ' "$f"; done | sed 's/ $//')"
check "socket: every refusal logged with its reason" \
	test "$(grep -c 'body file .* refused: ' "$W_DIR/wharf.log")" -ge 9
diag "$(grep -o 'refused: [^(]*' "$W_DIR/wharf.log" | sort | uniq -c)"
# a good body file given with a Content-Length it does not have
printf 'XYZ' >"$BODY/good"
loc=$(start bf/direct)
out=$(fcgi PATCH "$loc" "$BODY/good" 5)
check_eq "socket: body file size other than Content-Length: 500" 500 \
	"$(printf '%s' "$out" | tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p')"
wharf_stop

# ---- bodyfiles: false: the parameter is ignored, the body is read ----
WHARF_E2E_BODYFILES=false wharf_start || { t_fail "registry (bodyfiles: false) starts"; exit 1; }
check "streaming config: no body file directory in nginx's snippet" \
	bash -c "! grep -q client_body_in_file_only '$W_DIR/wharf-locations.conf'"
mkdir -p "$W_ROOT/wharf/body"
printf 'XYZ' >"$W_ROOT/wharf/body/good"
loc=$(start bf/off)
out=$(fcgi PATCH "$loc" "$W_ROOT/wharf/body/good" 3 "$TMP/abc")
check_eq "bodyfiles: false: WHARF_BODY_FILE ignored, the body read (202)" 202 \
	"$(printf '%s' "$out" | tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p')"
check_eq "bodyfiles: false: the upload holds the body" 201 "$(code -X PUT "$W_URL$loc?digest=$ABC")"
check_eq "bodyfiles: false: the file is still there" XYZ "$(cat "$W_ROOT/wharf/body/good")"
# nor is WHARF_BODY_FAILED (nginx could not write the body): the body is read
loc=$(start bf/off)
out=$("$PYTHON" "$FCGI" "$W_SOCK" REQUEST_METHOD=PATCH REQUEST_URI="$loc" QUERY_STRING= \
	CONTENT_LENGTH=3 CONTENT_TYPE=application/octet-stream SERVER_NAME=localhost \
	SERVER_PORT="${W_HOST##*:}" HTTP_HOST="$W_HOST" REQUEST_SCHEME=http SERVER_PROTOCOL=HTTP/1.1 \
	GATEWAY_INTERFACE=CGI/1.1 REMOTE_ADDR=127.0.0.1 WHARF_BODY_FAILED=1 <"$TMP/abc")
check_eq "bodyfiles: false: WHARF_BODY_FAILED ignored, the body read (202)" 202 \
	"$(printf '%s' "$out" | tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p')"
check_eq "bodyfiles: false: ... the upload holds the body" 201 "$(code -X PUT "$W_URL$loc?digest=$ABC")"
c=$(code -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a" \
	"$W_URL/v2/bf/one/blobs/uploads/?digest=$(sha "$TMP/a")")
check_eq "bodyfiles: false: monolithic POST streamed: 201" 201 "$c"
# a front that keeps bodies in files while Wharf reads them from the
# connection (the snippet's body-file lines with bodyfiles: false): every
# upload would break off; Wharf names the mismatch instead
nginx_render "$W_DIR" "$W_HOST" "$W_SOCK" "$W_ROOT" "$W_ROOT/wharf/body"
kill -HUP "$W_NGINX_PID"
sleep 1 # nginx's new workers take over
out=$(curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a" \
	"$W_URL/v2/bf/mismatch/blobs/uploads/?digest=$(sha "$TMP/a")")
check_eq "front with body files, bodyfiles: false: 500" 500 "$(printf '%s' "$out" | tail -n 1)"
check "... the error says the two disagree on bodyfiles" \
	bash -c "printf '%s' '$out' | grep -q 'disagree on fastcgi.uploads.bodyfiles'"
check "... and the log tells how to fix it" grep -q 'set fastcgi.uploads.bodydir' "$W_DIR/wharf.log"
wharf_stop
e2e_done
