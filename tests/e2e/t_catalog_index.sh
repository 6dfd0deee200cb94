#!/usr/bin/env bash
# The repository index on the filesystem driver (issue 17): the checks of
# catalog_lib.sh (list, search by name/tag/label/digest, deletes, kill -9
# during puts then `wharf catalog rebuild`), 2,000 repositories written
# straight into the store layout and indexed by `wharf catalog rebuild`, and
# the token service's access rules filtering the list and search as they
# filter /v2/_catalog.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
source "$(dirname "$0")/catalog_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl openssl); then
	t_skip "repository index" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "repository index" "Wharf only"; exit 0; }

wharf_start || { t_fail "registry starts"; exit 1; }
catalog_checks "$W_DIR/config.yml"
check "markers live under the root's wharf/catalog" test -f "$W_ROOT/wharf/catalog/$(printf cat/beta | od -An -tx1 | tr -d ' \n')"
wharf_stop

# --- 2,000 repositories written into the layout, indexed by a rebuild ---------
"$PYTHON" "$E2E_DIR/fixtures/catalog_fill.py" "$TMP/many" 2000 --prefix many/r
wharf_start "$TMP/many" || { t_fail "registry on 2000 repositories starts"; exit 1; }
out=$("$WHARF_BIN" catalog rebuild -c "$W_DIR/config.yml" 2>&1)
check_eq "rebuild indexes the 2000 repositories" "2000 repositories; 2000 markers added, 0 rewritten, 0 removed" "$out"
walk() { # walk URL KEY: items over every page, following next
	local url=$1 key=$2 n=0 body next
	while :; do
		body=$(curl -s "$W_URL$url")
		n=$((n + $(jq ".$key | length" <<<"$body")))
		case $key in
		repositories) next=$(jq -r '.next // empty' <<<"$body" 2>/dev/null) ;;
		esac
		[ -n "${next:-}" ] || break
		url="/_wharf/api/repositories?n=1000&last=$next"
	done
	echo "$n"
}
check_eq "list: 2000 repositories in pages of 1000" 2000 "$(walk '/_wharf/api/repositories?n=1000' repositories)"
check_eq "_catalog: the first page of 100 ends at many/r00099" many/r00099 \
	"$(curl -s "$W_URL/v2/_catalog?n=100" | jq -r '.repositories[99]')"
check_eq "_catalog: a page after many/r01949" "many/r01950 many/r01999" \
	"$(curl -s "$W_URL/v2/_catalog?n=100&last=many/r01949" | jq -r '.repositories | "\(.[0]) \(.[-1])"')"
check_eq "search by label among 2000" "many/r01234" "$(api_names '/_wharf/api/search?q=bench.repo%3D1234')"
check_eq "list filter among 2000" "many/r01990,many/r01991" "$(api_names '/_wharf/api/repositories?filter=R0199&n=2')"
wharf_stop

# --- access rules: the token's catalog patterns filter list and search ---------
check "wharf token keygen" "$WHARF_BIN" token keygen -o "$TMP/signer"
mk_htpasswd "$TMP/users" alice:alice-Pw1 admin:admin-Pw2
cat >"$TMP/access.yml" <<'YML'
groups:
  admins: [admin]
rules:
  - repositories: ["team/*"]
    users: [alice]
    actions: [pull, push]
  - repositories: ["*"]
    groups: [admins]
    actions: ["*"]
YML
export REGISTRY_AUTH=token
export REGISTRY_AUTH_TOKEN_REALM=http://unused.invalid/auth/token
export REGISTRY_AUTH_TOKEN_AUTOREDIRECT=true
export REGISTRY_AUTH_TOKEN_SERVICE=wharf-e2e
export REGISTRY_AUTH_TOKEN_ISSUER=wharf-e2e-issuer
export REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt
export REGISTRY_FASTCGI_TOKENSERVICE_ISSUER=wharf-e2e-issuer
export REGISTRY_FASTCGI_TOKENSERVICE_SERVICE=wharf-e2e
export REGISTRY_FASTCGI_TOKENSERVICE_SIGNINGKEY=$TMP/signer.key
export REGISTRY_FASTCGI_TOKENSERVICE_HTPASSWD=$TMP/users
export REGISTRY_FASTCGI_TOKENSERVICE_ACCESSRULES=$TMP/access.yml
wharf_start || { t_fail "registry with token auth starts"; exit 1; }
unset "${!REGISTRY_@}"
mkimage "$TMP/src" --tag v1 --layers 1 --size 20000 --seed cat-tok >/dev/null
check "admin pushes team/app" skopeo_copy oci:"$TMP/src":v1 "docker://$W_HOST/team/app:v1" --dest-creds admin:admin-Pw2
check "admin pushes other/x" skopeo_copy oci:"$TMP/src":v1 "docker://$W_HOST/other/x:v1" --dest-creds admin:admin-Pw2
token() {
	curl -s -u "$1" "$W_URL/auth/token?service=wharf-e2e&scope=registry:catalog:*" | jq -r .token
}
ta=$(token alice:alice-Pw1)
td=$(token admin:admin-Pw2)
check_eq "no token: the list answers 401" 401 "$(http_code "$W_URL/_wharf/api/repositories")"
check_eq "no token: search answers 401" 401 "$(http_code "$W_URL/_wharf/api/search?q=x")"
check_eq "the 401 asks for the catalog scope" \
	"Bearer realm=\"$W_URL/auth/token\",service=\"wharf-e2e\",scope=\"registry:catalog:*\"" \
	"$(www_auth "$W_URL/_wharf/api/repositories")"
check_eq "alice's list: only team/*" "team/app" \
	"$(curl -s -H "Authorization: Bearer $ta" "$W_URL/_wharf/api/repositories" | jq -r '[.repositories[].name]|join(",")')"
check_eq "alice's search by tag: only team/*" "team/app" \
	"$(curl -s -H "Authorization: Bearer $ta" "$W_URL/_wharf/api/search?q=v1" | jq -r '[.repositories[].name]|join(",")')"
check_eq "alice's _catalog says the same" "team/app" \
	"$(curl -s -H "Authorization: Bearer $ta" "$W_URL/v2/_catalog" | jq -r '.repositories|join(",")')"
check_eq "admin's list: everything" "other/x,team/app" \
	"$(curl -s -H "Authorization: Bearer $td" "$W_URL/_wharf/api/repositories" | jq -r '[.repositories[].name]|join(",")')"
wharf_stop
e2e_done
