#!/usr/bin/env bash
# auth.token with Wharf's own token service (fastcgi.tokenservice), all from
# the environment: Bearer challenges, anonymous pull with push denied, a user
# limited to team/* (no pull of other/x, not in _catalog), forged and
# malformed tokens refused, docker login (OAuth2 POST + refresh token),
# podman login, skopeo --creds, buildah --creds; and the reference registry
# configured with auth.token pointing at Wharf's token service accepts its
# tokens.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo podman buildah jq nginx curl openssl); then
	t_skip "token auth" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "token auth" "Wharf only"; exit 0; }

check "wharf token keygen" "$WHARF_BIN" token keygen -o "$TMP/signer"
kid=$(jq -r '.keys[0].kid' "$TMP/signer.jwks")
check "keygen's kid is a libtrust key id" grep -qE '^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$' <<<"$kid"
mk_htpasswd "$TMP/users" alice:alice-Pw1 admin:admin-Pw2
cat >"$TMP/access.yml" <<'YML'
groups:
  admins: [admin]
rules:
  - repositories: ["public/*"]
    anonymous: true
    actions: [pull]
  - repositories: ["team/*"]
    users: [alice]
    actions: [pull, push]
  - repositories: ["*"]
    groups: [admins]
    actions: ["*"]
YML

export REGISTRY_AUTH=token
export REGISTRY_AUTH_TOKEN_REALM=http://unused.invalid/auth/token # autoredirect builds it
export REGISTRY_AUTH_TOKEN_AUTOREDIRECT=true
export REGISTRY_AUTH_TOKEN_SERVICE=wharf-e2e
export REGISTRY_AUTH_TOKEN_ISSUER=wharf-e2e-issuer
export REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt
export REGISTRY_FASTCGI_TOKENSERVICE_ISSUER=wharf-e2e-issuer
export REGISTRY_FASTCGI_TOKENSERVICE_SERVICE=wharf-e2e
export REGISTRY_FASTCGI_TOKENSERVICE_SIGNINGKEY=$TMP/signer.key
export REGISTRY_FASTCGI_TOKENSERVICE_HTPASSWD=$TMP/users
export REGISTRY_FASTCGI_TOKENSERVICE_ACCESSRULES=$TMP/access.yml
wharf_start || { t_fail "registry starts"; exit 1; }
unset "${!REGISTRY_@}"
R=$W_HOST
T=$W_URL/auth/token

# token: USER:PASS|- SCOPE... -> an access token on stdout
token() {
	local cred=$1 q="service=wharf-e2e" s
	shift
	for s in "$@"; do q="$q&scope=$(jq -rn --arg s "$s" '$s|@uri')"; done
	if [ "$cred" = - ]; then curl -s "$T?$q"; else curl -s -u "$cred" "$T?$q"; fi | jq -r .token
}
bearer() { echo "Authorization: Bearer $1"; }

check_eq "GET /v2/ without a token: 401" 401 "$(http_code "$W_URL/v2/")"
check_eq "Bearer challenge" "Bearer realm=\"$W_URL/auth/token\",service=\"wharf-e2e\"" "$(www_auth "$W_URL/v2/")"
check_eq "challenge names the scope" \
	"Bearer realm=\"$W_URL/auth/token\",service=\"wharf-e2e\",scope=\"repository:team/a:pull,push\"" \
	"$(www_auth -X POST "$W_URL/v2/team/a/blobs/uploads/")"
check_eq "token service: wrong password 401" 401 "$(http_code -u alice:nope "$T?service=wharf-e2e")"
check_eq "token service: unknown service 400" 400 "$(http_code -u alice:alice-Pw1 "$T?service=other")"
sleep 0.2
check "failed token login logged with address" grep -qE 'failed login for user \\?"alice\\?" from 127.0.0.1' "$W_DIR/wharf.log"
check "no password in the log" not grep -q 'alice-Pw1' "$W_DIR/wharf.log"

# admin pushes other/x and public/img; alice pushes team/app (skopeo --creds)
mkimage "$TMP/src" --tag v1 --layers 1 --size 100000 --seed tok >/dev/null
check "admin pushes other/x (skopeo --dest-creds)" skopeo_copy oci:"$TMP/src":v1 "docker://$R/other/x:v1" --dest-creds admin:admin-Pw2
check "admin pushes public/img" skopeo_copy oci:"$TMP/src":v1 "docker://$R/public/img:v1" --dest-creds admin:admin-Pw2
check "alice pushes team/app" skopeo_copy oci:"$TMP/src":v1 "docker://$R/team/app:v1" --dest-creds alice:alice-Pw1
check "alice cannot push other/y" not skopeo_copy oci:"$TMP/src":v1 "docker://$R/other/y:v1" --dest-creds alice:alice-Pw1
check "alice cannot pull other/x" not skopeo_copy "docker://$R/other/x:v1" dir:"$TMP/no1" --src-creds alice:alice-Pw1
check "anonymous pull of public/img" skopeo_copy "docker://$R/public/img:v1" dir:"$TMP/anon"
check "anonymous push to public/img denied" not skopeo_copy oci:"$TMP/src":v1 "docker://$R/public/img:v2"
check "anonymous pull of team/app denied" not skopeo_copy "docker://$R/team/app:v1" dir:"$TMP/no2"

# tokens and rights, by hand
ta=$(token - repository:public/img:pull,push)
check_eq "anonymous token: manifest GET 200" 200 "$(http_code -H "$(bearer "$ta")" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$W_URL/v2/public/img/manifests/v1")"
check_eq "anonymous token: push 401" 401 "$(http_code -X POST -H "$(bearer "$ta")" "$W_URL/v2/public/img/blobs/uploads/")"
check_eq "anonymous token: error=insufficient_scope" \
	"Bearer realm=\"$W_URL/auth/token\",service=\"wharf-e2e\",scope=\"repository:public/img:pull,push\",error=\"insufficient_scope\"" \
	"$(www_auth -X POST -H "$(bearer "$ta")" "$W_URL/v2/public/img/blobs/uploads/")"
check_eq "insufficient scope body: DENIED" DENIED "$(err_code -X POST -H "$(bearer "$ta")" "$W_URL/v2/public/img/blobs/uploads/")"
tc=$(token alice:alice-Pw1 registry:catalog:* repository:other/x:pull)
cat_alice=$(curl -s -H "$(bearer "$tc")" "$W_URL/v2/_catalog" | jq -c .repositories)
check_eq "alice's _catalog: only what she may pull (team/*, public/*), not other/x" \
	'["public/img","team/app"]' "$cat_alice"
check_eq "alice's token grants nothing on other/x" 401 "$(http_code -H "$(bearer "$tc")" "$W_URL/v2/other/x/tags/list")"
td=$(token admin:admin-Pw2 registry:catalog:*)
cat_admin=$(curl -s -H "$(bearer "$td")" "$W_URL/v2/_catalog" | jq -c .repositories)
check_eq "admin's _catalog lists everything" '["other/x","public/img","team/app"]' "$cat_admin"
check_eq "no token: _catalog 401" 401 "$(http_code "$W_URL/v2/_catalog")"

# a cross-repository mount needs pull on `from`: without it, an upload session
layer=$(jq -r '.layers[0].digest' "$TMP/src/blobs/sha256/$(oci_top_digest "$TMP/src" v1 | cut -d: -f2)")
tm=$(token alice:alice-Pw1 repository:team/m:pull,push repository:other/x:pull)
check_eq "alice: mount from other/x falls back to an upload (202)" 202 \
	"$(http_code -X POST -H "$(bearer "$tm")" "$W_URL/v2/team/m/blobs/uploads/?mount=$layer&from=other/x")"
check_eq "alice: refused mount put no blob in team/m" 404 \
	"$(http_code -I -H "$(bearer "$tm")" "$W_URL/v2/team/m/blobs/$layer")"
check_eq "alice: mount without from does not find other/x's blob (202)" 202 \
	"$(http_code -X POST -H "$(bearer "$tm")" "$W_URL/v2/team/m/blobs/uploads/?mount=$layer")"
check_eq "alice: mount with an undecodable from is no mount without from (202)" 202 \
	"$(http_code -X POST -H "$(bearer "$tm")" "$W_URL/v2/team/m/blobs/uploads/?mount=$layer&from=other/x%00")"
check_eq "alice: still no blob in team/m" 404 \
	"$(http_code -I -H "$(bearer "$tm")" "$W_URL/v2/team/m/blobs/$layer")"
tm2=$(token admin:admin-Pw2 repository:team/m:pull,push repository:other/x:pull)
check_eq "admin: mount from other/x (201)" 201 \
	"$(http_code -X POST -H "$(bearer "$tm2")" "$W_URL/v2/team/m/blobs/uploads/?mount=$layer&from=other/x")"

# forged and malformed tokens: each 401 with UNAUTHORIZED and error="invalid_token"
good=$(token alice:alice-Pw1 repository:team/app:pull)
check_eq "valid token: tags/list 200" 200 "$(http_code -H "$(bearer "$good")" "$W_URL/v2/team/app/tags/list")"
h=${good%%.*}
rest=${good#*.}
p=${rest%%.*}
sig=${rest#*.}
b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
none_h=$(printf '{"alg":"none","typ":"JWT","kid":"%s"}' "$kid" | b64u)
hs_h=$(printf '{"alg":"HS256","typ":"JWT","kid":"%s"}' "$kid" | b64u)
hs_sig=$(printf '%s.%s' "$hs_h" "$p" | openssl dgst -sha256 -hmac "$(cat "$TMP/signer.crt")" -binary | b64u)
adm_p=$(printf '%s' "$p" | tr -- '-_' '+/' | base64 -d 2>/dev/null | jq -c '.access[0].name="other/x"' | b64u)
i=0
for forged in "$none_h.$p." "$none_h.$p.$sig" "$hs_h.$p.$hs_sig" "$h.$adm_p.$sig" "$h.$p.${sig:0:20}" \
	"$h.$p" "garbage" "$h.%%%.$sig" "$h..$sig"; do
	i=$((i + 1))
	code=$(http_code -H "$(bearer "$forged")" "$W_URL/v2/team/app/tags/list")
	ec=$(err_code -H "$(bearer "$forged")" "$W_URL/v2/team/app/tags/list")
	wa=$(www_auth -H "$(bearer "$forged")" "$W_URL/v2/team/app/tags/list")
	if [ "$code" = 401 ] && [ "$ec" = UNAUTHORIZED ] && [[ $wa == *'error="invalid_token"'* ]]; then
		t_ok "forged/malformed token $i refused (401 invalid_token)"
	else
		t_fail "forged/malformed token $i refused (401 invalid_token)" "$code $ec $wa"
	fi
done
check_eq "Basic credentials on a token registry: 401" 401 "$(http_code -u alice:alice-Pw1 "$W_URL/v2/team/app/tags/list")"

# OAuth2 POST (docker login's form) with a refresh token
post=$(curl -s -d grant_type=password -d username=alice -d password=alice-Pw1 -d service=wharf-e2e \
	-d client_id=e2e -d access_type=offline --data-urlencode scope=repository:team/app:pull "$T")
rt=$(jq -r .refresh_token <<<"$post")
check "OAuth2 password grant returns a refresh token" test -n "$rt" -a "$rt" != null
at=$(curl -s -d grant_type=refresh_token -d service=wharf-e2e -d client_id=e2e \
	--data-urlencode "refresh_token=$rt" --data-urlencode scope=repository:team/app:pull "$T" | jq -r .access_token)
check_eq "refresh grant's token pulls team/app" 200 "$(http_code -H "$(bearer "$at")" "$W_URL/v2/team/app/tags/list")"
check_eq "a refresh token is not an access token" 401 "$(http_code -H "$(bearer "$rt")" "$W_URL/v2/team/app/tags/list")"
check_eq "OAuth2 wrong password: 401" 401 "$(http_code -d grant_type=password -d username=alice -d password=x -d service=wharf-e2e "$T")"

# every client against the token service
clients_setup
if need_cmd dockerd >/dev/null && dockerd_start; then :; else DOCKER=; t_skip "docker with token" "no dockerd"; fi
clients_roundtrip token alice alice-Pw1 team
if [ -n "${DOCKER:-}" ]; then
	check "docker login used the OAuth2 POST form" grep -q '"POST /auth/token HTTP/1.1" 200' "$W_DIR/nginx-access.log"
	check "docker pulled with a token from GET or a refresh" grep -qE '"(GET|POST) /auth/token[^"]*" 200' "$W_DIR/nginx-access.log"
fi

# the reference registry trusts Wharf's token service
if need_cmd docker-registry >/dev/null; then
	export REGISTRY_AUTH=token
	export REGISTRY_AUTH_TOKEN_REALM=$W_URL/auth/token
	export REGISTRY_AUTH_TOKEN_SERVICE=wharf-e2e
	export REGISTRY_AUTH_TOKEN_ISSUER=wharf-e2e-issuer
	export REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt
	refreg_start "$TMP/ref" "$TMP/ref-data"
	st=$?
	unset "${!REGISTRY_@}"
	if [ "$st" -eq 0 ]; then
		check_eq "reference: 401 with Wharf's realm" "Bearer realm=\"$W_URL/auth/token\",service=\"wharf-e2e\"" \
			"$(www_auth "http://$R_HOST/v2/")"
		check "reference accepts Wharf's tokens: skopeo push" skopeo_copy oci:"$TMP/src":v1 \
			"docker://$R_HOST/team/ref:v1" --dest-creds alice:alice-Pw1
		check "reference accepts Wharf's tokens: skopeo pull" skopeo_copy \
			"docker://$R_HOST/team/ref:v1" dir:"$TMP/refback" --src-creds alice:alice-Pw1
		check "reference enforces Wharf's rules: other/* denied" not skopeo_copy oci:"$TMP/src":v1 \
			"docker://$R_HOST/other/ref:v1" --dest-creds alice:alice-Pw1
		refreg_stop
	else
		t_fail "reference registry starts with auth.token"
	fi
fi

wharf_stop
e2e_done
