#!/usr/bin/env bash
# The web UI (issue 17) in headless Chromium (Debian chromium driven by
# playwright-core from npm, tests/e2e/ui_browser.mjs), behind nginx with the
# shipped snippet: token auth with Wharf's token service and access rules;
# log in, search, a repository, a manifest with its layers, configuration
# and a referrer, delete a tag (gone from the registry API), GC dry run and
# run, a user refused a delete the rules forbid and not shown what they may
# not pull, keyboard, phone and dark screenshots. Then the CSRF and
# Content-Security-Policy rules from outside (curl), and 10,000
# repositories listed in under a second behind htpasswd auth (the login form
# sending Basic). Screenshots go to $WHARF_UI_SHOTS (default $TMP/shots),
# printed at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
e2e_init

[ "$E2E_TARGET" = reference ] && { t_skip "web UI" "Wharf only"; exit 0; }
if ! why=$(need_cmd nginx curl jq node openssl); then
	t_skip "web UI" "$why"
	exit 0
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
PW=${WHARF_TOOLS:-${HOME:-/root}/.cache/wharf}/playwright/node_modules/playwright-core
if [ -z "$CHROMIUM" ] || [ ! -d "$PW" ]; then
	t_skip "web UI" "chromium or playwright-core missing (make deps-test installs them)"
	exit 0
fi
SHOTS=${WHARF_UI_SHOTS:-$TMP/shots}
PARTS=${WHARF_UI_PARTS:-main scale} # the parts to run (main: the UI, scale: 10,000 repositories)
mkdir -p "$SHOTS"

# token USER:PASS SCOPE...: a bearer token from the token service
token() {
	local cred=$1 q="service=wharf-ui" s
	shift
	for s in "$@"; do q="$q&scope=$(jq -rn --arg s "$s" '$s|@uri')"; done
	curl -s -u "$cred" "$U/auth/token?$q" | jq -r .token
}
sha() { echo "sha256:$(sha256sum <"$1" | cut -d' ' -f1)"; }
desc() { printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$(sha "$2")" "$(stat -c %s "$2")"; }
# put_blob REPO FILE / put_manifest REPO REF FILE TYPE, as admin
put_blob() {
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADM" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$2" \
		-X POST "$U/v2/$1/blobs/uploads/?digest=$(sha "$2")"
}
put_manifest() {
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADM" -H "Content-Type: $4" \
		--data-binary @"$3" -X PUT "$U/v2/$1/manifests/$2"
}
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json
OCI_C=application/vnd.oci.image.config.v1+json
OCI_L=application/vnd.oci.image.layer.v1.tar+gzip

# image REPO TAG ARCH NAME: an image with a real config (env, entrypoint,
# labels, history) and two layers; its manifest in $TMP/NAME.json
image() {
	local repo=$1 tag=$2 arch=$3 n=$4
	head -c 30000 /dev/urandom >"$TMP/$n.l1"
	head -c 4000 /dev/urandom >"$TMP/$n.l2"
	cat >"$TMP/$n.cfg" <<EOF
{"architecture":"$arch","os":"linux","created":"2026-12-01T10:00:00Z",
 "config":{"Env":["PATH=/usr/local/bin:/usr/bin","APP_MODE=$n"],"Entrypoint":["/app/server"],"Cmd":["--port","8080"],
  "WorkingDir":"/app","User":"1000",
  "Labels":{"org.opencontainers.image.title":"wharf-ui-demo","org.opencontainers.image.version":"$tag"}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$(sha256sum <"$TMP/$n.l1" | cut -d' ' -f1)","sha256:$(sha256sum <"$TMP/$n.l2" | cut -d' ' -f1)"]},
 "history":[{"created":"2026-12-01T09:59:00Z","created_by":"COPY server /app/server"},
            {"created":"2026-12-01T10:00:00Z","created_by":"RUN ./configure $n"}]}
EOF
	[ "$(put_blob "$repo" "$TMP/$n.cfg")" = 201 ] &&
		[ "$(put_blob "$repo" "$TMP/$n.l1")" = 201 ] &&
		[ "$(put_blob "$repo" "$TMP/$n.l2")" = 201 ] || return 1
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' "$OCI_M" \
		"$(desc $OCI_C "$TMP/$n.cfg")" "$(desc $OCI_L "$TMP/$n.l1")" "$(desc $OCI_L "$TMP/$n.l2")" >"$TMP/$n.json"
	[ -z "$tag" ] || [ "$(put_manifest "$repo" "$tag" "$TMP/$n.json" $OCI_M)" = 201 ]
}

if [[ " $PARTS " == *" main "* ]]; then
# ---- an upstream registry the one under test mirrors under hub/ ------------
wharf_start || { t_fail "upstream registry starts"; exit 1; }
UP_URL=$W_URL
U=$UP_URL ADM=none
mkdir -p "$TMP/up"
(TMP=$TMP/up image lib/tool v1 amd64 tool) || t_fail "push lib/tool:v1 to the upstream"
cat >"$TMP/proxy.yml" <<EOF
proxy:
  upstreams:
    - prefix: hub
      remoteurl: $UP_URL
      ttl: 24h
EOF
export WHARF_E2E_CONFIG_APPEND=$TMP/proxy.yml

# ---- the registry: token auth, admin may do all, alice pulls team/* --------
check "wharf token keygen" "$WHARF_BIN" token keygen -o "$TMP/signer"
mk_htpasswd "$TMP/users" admin:admin-Pw1 alice:alice-Pw2
cat >"$TMP/access.yml" <<'YML'
groups:
  admins: [admin]
rules:
  - repositories: ["team/*"]
    users: [alice]
    actions: [pull]
  - repositories: ["*"]
    groups: [admins]
    actions: ["*"]
YML
export REGISTRY_AUTH=token
export REGISTRY_AUTH_TOKEN_REALM=http://unused.invalid/auth/token
export REGISTRY_AUTH_TOKEN_AUTOREDIRECT=true
export REGISTRY_AUTH_TOKEN_SERVICE=wharf-ui
export REGISTRY_AUTH_TOKEN_ISSUER=wharf-ui-issuer
export REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt
export REGISTRY_FASTCGI_TOKENSERVICE_ISSUER=wharf-ui-issuer
export REGISTRY_FASTCGI_TOKENSERVICE_SERVICE=wharf-ui
export REGISTRY_FASTCGI_TOKENSERVICE_SIGNINGKEY=$TMP/signer.key
export REGISTRY_FASTCGI_TOKENSERVICE_HTPASSWD=$TMP/users
export REGISTRY_FASTCGI_TOKENSERVICE_ACCESSRULES=$TMP/access.yml
export REGISTRY_STORAGE_MAINTENANCE_GC_GRACEPERIOD=1s # the UI's GC run is online
wharf_start || { t_fail "registry starts"; exit 1; }
unset "${!REGISTRY_@}" WHARF_E2E_CONFIG_APPEND
U=$W_URL

ADM=$(token admin:admin-Pw1 "repository:team/app:pull,push,delete" "repository:team/multi:pull,push" \
	"repository:other/secret:pull,push")
check "admin token" test -n "$ADM"
check "push team/app:v1" image team/app v1 amd64 app1
check "push team/app:v2" image team/app v2 amd64 app2
check "push other/secret:v1" image other/secret v1 amd64 secret
# a two-platform index team/multi:latest
check "push the index's amd64 image" image team/multi "" amd64 m-amd64
check "push the index's arm64 image" image team/multi "" arm64 m-arm64
put_manifest team/multi "$(sha "$TMP/m-amd64.json")" "$TMP/m-amd64.json" $OCI_M >/dev/null
put_manifest team/multi "$(sha "$TMP/m-arm64.json")" "$TMP/m-arm64.json" $OCI_M >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$OCI_I" \
	"$(desc $OCI_M "$TMP/m-amd64.json" | sed 's/}$/,"platform":{"os":"linux","architecture":"amd64"}}/')" \
	"$(desc $OCI_M "$TMP/m-arm64.json" | sed 's/}$/,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}/')" \
	>"$TMP/multi.json"
check_eq "push team/multi:latest (an index)" 201 "$(put_manifest team/multi latest "$TMP/multi.json" $OCI_I)"
# an SBOM referring to team/app:v1 (artifactType, subject), as oras would push it
printf '{}' >"$TMP/empty.json"
printf '{"spdxVersion":"SPDX-2.3","name":"app"}' >"$TMP/sbom.json"
put_blob team/app "$TMP/empty.json" >/dev/null
put_blob team/app "$TMP/sbom.json" >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/spdx+json","config":%s,"layers":[%s],"subject":%s,"annotations":{"org.opencontainers.image.created":"2026-12-02T00:00:00Z"}}' \
	"$OCI_M" "$(desc application/vnd.oci.empty.v1+json "$TMP/empty.json")" \
	"$(desc application/spdx+json "$TMP/sbom.json")" "$(desc $OCI_M "$TMP/app1.json")" >"$TMP/sbom-m.json"
check_eq "push an SBOM referrer of team/app:v1" 201 \
	"$(put_manifest team/app "$(sha "$TMP/sbom-m.json")" "$TMP/sbom-m.json" $OCI_M)"
check_eq "pull hub/lib/tool:v1 through the mirror" 200 "$(curl -s -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer $(token admin:admin-Pw1 repository:hub/lib/tool:pull)" \
	-H "Accept: $OCI_M" "$U/v2/hub/lib/tool/manifests/v1")"
# an unreferenced blob for the GC to find
head -c 5000 /dev/urandom >"$TMP/orphan"
put_blob team/app "$TMP/orphan" >/dev/null

# ---- the page itself: served at /, strict CSP, nothing from elsewhere -------
check_eq "GET / is the UI" 200 "$(http_code "$U/")"
csp=$(curl -s -D - -o /dev/null "$U/" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ss]ecurity-[Pp]olicy: //p')
check "CSP: default-src 'none', scripts and styles from this site only" \
	grep -q "default-src 'none'; script-src 'self'; style-src 'self'" <<<"$csp"
check_eq "app.js served as JavaScript" "text/javascript" \
	"$(curl -s -o /dev/null -w '%{content_type}' "$U/_wharf/ui/app.js")"
check "no inline script or style, no URL of another site in the UI" \
	not grep -nE '<script>|<style|style=|https?://' "$REPO"/admin/ui/index.html "$REPO"/admin/ui/*.js "$REPO"/admin/ui/*.css

# ---- the browser ------------------------------------------------------------
out=$(cd "$E2E_DIR" && CHROMIUM=$CHROMIUM PW=$PW timeout 150 node ui_browser.mjs main "$U" "$SHOTS" 2>"$TMP/browser.err")
[ -s "$TMP/browser.err" ] && diag "browser stderr:" "$(tail -n 20 "$TMP/browser.err")"
check "browser run reported" test -n "$out"
while IFS= read -r line; do
	case $line in
	"ok - "*) t_ok "browser: ${line#ok - }" ;;
	"not ok - "*) t_fail "browser: ${line#not ok - }" ;;
	*) diag "$line" ;;
	esac
done <<<"$out"

# what the browser did, seen through the registry API
ADM=$(token admin:admin-Pw1 "repository:team/app:pull")
tags=$(curl -s -H "Authorization: Bearer $ADM" "$U/v2/team/app/tags/list" | jq -r '.tags | join(",")')
check_eq "the tag deleted in the UI is gone from the registry API" "v1" "$tags"
check "the GC run from the UI deleted the unreferenced blob" \
	not test -e "$(store_blob_path "$W_ROOT" "$(sha "$TMP/orphan")")"

# ---- CSRF and the rules from outside ----------------------------------------
ADM=$(token admin:admin-Pw1 "registry:admin:*" "repository:team/app:pull,delete")
AL=$(token alice:alice-Pw2 "registry:admin:*" "repository:team/app:pull,delete" "registry:catalog:*")
csrf=$(curl -s -H "Authorization: Bearer $ADM" "$U/_wharf/api/whoami" | jq -r .csrf)
check "whoami gives a CSRF token" test -n "$csrf"
check_eq "whoami: admin" "admin true" \
	"$(curl -s -H "Authorization: Bearer $ADM" "$U/_wharf/api/whoami" | jq -r '"\(.user) \(.admin)"')"
check_eq "whoami: alice is no admin" "alice false" \
	"$(curl -s -H "Authorization: Bearer $AL" "$U/_wharf/api/whoami" | jq -r '"\(.user) \(.admin)"')"
check_eq "POST gc without X-Wharf-CSRF: 403" 403 \
	"$(http_code -X POST -H "Authorization: Bearer $ADM" "$U/_wharf/api/gc")"
check_eq "POST gc with a wrong token: 403" 403 \
	"$(http_code -X POST -H "Authorization: Bearer $ADM" -H "X-Wharf-CSRF: x$csrf" "$U/_wharf/api/gc")"
check_eq "POST gc from another origin: 403" 403 \
	"$(http_code -X POST -H "Authorization: Bearer $ADM" -H "X-Wharf-CSRF: $csrf" -H 'Origin: http://evil.example' "$U/_wharf/api/gc")"
check_eq "POST gc by a non-admin: 401" 401 \
	"$(http_code -X POST -H "Authorization: Bearer $AL" -H "X-Wharf-CSRF: $csrf" "$U/_wharf/api/gc")"
check_eq "GC dry run by a non-admin: 401" 401 "$(http_code -H "Authorization: Bearer $AL" "$U/_wharf/api/gc")"
check_eq "GC dry run by admin: a report" true \
	"$(curl -s -H "Authorization: Bearer $ADM" "$U/_wharf/api/gc" | jq '.dry_run and (.manifests > 0)')"
check_eq "a browser's cross-site DELETE on /v2/: 403" 403 \
	"$(http_code -X DELETE -H "Authorization: Bearer $ADM" -H 'Origin: http://evil.example' -H 'Sec-Fetch-Site: cross-site' "$U/v2/team/app/manifests/v1")"
check_eq "a browser's same-origin DELETE without the token: 403" 403 \
	"$(http_code -X DELETE -H "Authorization: Bearer $ADM" -H "Origin: $U" "$U/v2/team/app/manifests/v1")"
check_eq "alice's DELETE of a tag: refused by the rules" 401 \
	"$(http_code -X DELETE -H "Authorization: Bearer $AL" "$U/v2/team/app/manifests/v1")"
check_eq "tags: alice may not read other/secret" 401 \
	"$(http_code -H "Authorization: Bearer $AL" "$U/_wharf/api/tags?repo=other/secret")"
check_eq "tags: bad name 400" 400 "$(http_code -H "Authorization: Bearer $ADM" "$U/_wharf/api/tags?repo=Bad..Name")"
check_eq "unknown endpoint 404" 404 "$(http_code -H "Authorization: Bearer $ADM" "$U/_wharf/api/nope")"
check_eq "tags: platforms and push time" "linux/amd64 true" \
	"$(curl -s -H "Authorization: Bearer $(token admin:admin-Pw1 repository:team/multi:pull)" "$U/_wharf/api/tags?repo=team/multi" |
		jq -r '.tags[0] | "\(.platforms[0]) \(.pushed > 0)"')"
ADM=$(token admin:admin-Pw1 "repository:other/secret:delete")
csrf=$(curl -s -H "Authorization: Bearer $ADM" "$U/_wharf/api/whoami" | jq -r .csrf)
check_eq "a command-line DELETE of a repository needs the CSRF token too: 403" 403 \
	"$(http_code -X DELETE -H "Authorization: Bearer $ADM" "$U/_wharf/api/repositories/other/secret")"
check_eq "repository delete: 202" 202 \
	"$(http_code -X DELETE -H "Authorization: Bearer $ADM" -H "X-Wharf-CSRF: $csrf" "$U/_wharf/api/repositories/other/secret")"
check_eq "the deleted repository is gone" 404 \
	"$(http_code -H "Authorization: Bearer $(token admin:admin-Pw1 repository:other/secret:pull)" "$U/v2/other/secret/tags/list")"
wharf_stop
fi

if [[ " $PARTS " == *" scale "* ]]; then
# ---- 10,000 repositories, htpasswd auth: the login form sends Basic ---------
mk_htpasswd "$TMP/users2" admin:admin-Pw1
"$PYTHON" "$E2E_DIR/fixtures/catalog_fill.py" "$TMP/many" 10000 --prefix many/r
export REGISTRY_AUTH=htpasswd REGISTRY_AUTH_HTPASSWD_REALM=wharf REGISTRY_AUTH_HTPASSWD_PATH=$TMP/users2
wharf_start "$TMP/many" || { t_fail "registry on 10000 repositories starts"; exit 1; }
unset "${!REGISTRY_@}"
out=$("$WHARF_BIN" catalog rebuild -c "$W_DIR/config.yml" 2>&1)
check "rebuild indexes the 10000 repositories" grep -q '^10000 repositories' <<<"$out"
out=$(cd "$E2E_DIR" && CHROMIUM=$CHROMIUM PW=$PW timeout 90 node ui_browser.mjs scale "$W_URL" "$SHOTS" 2>"$TMP/browser2.err")
[ -s "$TMP/browser2.err" ] && diag "browser stderr:" "$(tail -n 20 "$TMP/browser2.err")"
check "browser run reported" test -n "$out"
while IFS= read -r line; do
	case $line in
	"ok - "*) t_ok "browser: ${line#ok - }" ;;
	"not ok - "*) t_fail "browser: ${line#not ok - }" ;;
	*) diag "$line" ;;
	esac
done <<<"$out"
wharf_stop
fi
diag "screenshots: $SHOTS"
e2e_done
