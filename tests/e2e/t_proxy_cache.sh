#!/usr/bin/env bash
# Pull-through cache (issue 8) against real upstreams on loopback: the
# reference registry with htpasswd, and the reference registry with
# auth.token trusting Wharf's own token service. One Wharf mirrors several
# upstreams by prefix (proxy.upstreams from the environment) and hosts its own
# images: first pull stored, second pull from storage, tags refreshed by HEAD,
# upstream down (cached tag and digest still served, nothing new), upstream
# killed mid-blob (client error, nothing stored), concurrent pulls of one
# large blob fetch it once, ttl expiry by the master, pushes refused on
# mirrors and accepted elsewhere, the reference's proxy.remoteurl alone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/proxy_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl docker-registry htpasswd sha256sum); then
	t_skip "pull-through cache" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "pull-through cache" "Wharf only"; exit 0; }

# ---- fixtures and upstreams -------------------------------------------------
mkimage "$TMP/app" --tag v1 --layers 5 --size 300000 --seed proxy-app >/dev/null
mkimage "$TMP/app2" --tag v1 --layers 2 --size 100000 --seed proxy-app2 >/dev/null
mkimage "$TMP/ttl" --tag v1 --layers 1 --size 100000 --seed proxy-ttl >/dev/null
mkimage "$TMP/big" --tag v1 --layers 1 --size 40000000 --compress none --seed proxy-big >/dev/null
mkimage "$TMP/slow" --tag v1 --layers 1 --size 30000000 --compress none --seed proxy-slow >/dev/null
mkimage "$TMP/own" --tag v1 --layers 1 --size 50000 --seed proxy-own >/dev/null
mkimage "$TMP/rng" --tag v1 --layers 1 --size 3000000 --compress none --seed proxy-rng >/dev/null
app_digest=$(oci_top_digest "$TMP/app")

up_htpasswd_env "$TMP/up-a.htpasswd" alice alice-Pw1
up_start a || { t_fail "upstream a starts"; exit 1; }
unset "${!REGISTRY_@}"
A=${UP_HOST[a]}
A_PORT=${A#*:}
for img in app ttl big slow rng; do
	skopeo_copy oci:"$TMP/$img":v1 "docker://$A/library/$img:v1" --dest-creds alice:alice-Pw1 ||
		t_fail "seed upstream a with library/$img"
done
# skopeo compresses the layers on the way: the upstream's own digests
layer_of() { "${SKOPEO[@]}" inspect --raw --tls-verify=false --creds alice:alice-Pw1 "docker://$A/library/$1:v1" | jq -r '.layers[0].digest'; }
big_layer=$(layer_of big)
slow_layer=$(layer_of slow)
check "upstream a refuses anonymous pulls" not skopeo_copy "docker://$A/library/app:v1" dir:"$TMP/anon"

# upstream b: the reference registry with auth.token, tokens from Wharf's token service
tok_ok=0
"$WHARF_BIN" token keygen -o "$TMP/signer" >/dev/null 2>&1
htpasswd -Bbc "$TMP/ts.htpasswd" bob bob-Pw2 >/dev/null 2>&1
export REGISTRY_AUTH=token REGISTRY_AUTH_TOKEN_REALM=http://unused.invalid/auth/token \
	REGISTRY_AUTH_TOKEN_AUTOREDIRECT=true REGISTRY_AUTH_TOKEN_SERVICE=proxy-e2e \
	REGISTRY_AUTH_TOKEN_ISSUER=proxy-e2e-issuer REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt \
	REGISTRY_FASTCGI_TOKENSERVICE_ISSUER=proxy-e2e-issuer REGISTRY_FASTCGI_TOKENSERVICE_SERVICE=proxy-e2e \
	REGISTRY_FASTCGI_TOKENSERVICE_SIGNINGKEY=$TMP/signer.key \
	REGISTRY_FASTCGI_TOKENSERVICE_HTPASSWD=$TMP/ts.htpasswd
if WHARF_E2E_WORKERS=2 wharf_start; then
	TS_URL=$W_URL
	unset "${!REGISTRY_@}"
	export REGISTRY_AUTH=token REGISTRY_AUTH_TOKEN_REALM=$TS_URL/auth/token \
		REGISTRY_AUTH_TOKEN_SERVICE=proxy-e2e REGISTRY_AUTH_TOKEN_ISSUER=proxy-e2e-issuer \
		REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=$TMP/signer.crt
	up_start b && tok_ok=1
fi
unset "${!REGISTRY_@}"
if [ "$tok_ok" = 1 ]; then
	B=${UP_HOST[b]}
	skopeo_copy oci:"$TMP/app2":v1 "docker://$B/team/tok:v1" --dest-creds bob:bob-Pw2 ||
		t_fail "seed upstream b with team/tok"
	check "upstream b answers with a Bearer challenge" sh -c \
		"curl -s -D - -o /dev/null http://$B/v2/ | grep -qi 'www-authenticate: Bearer'"
else
	t_fail "token upstream (reference + Wharf's token service) starts"
fi

# a throttled front of upstream a, to be killed in the middle of a blob
SLOW_PORT=$(free_port)
mkdir -p "$TMP/slowfront/tmp"
cat >"$TMP/slowfront/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/slowfront/nginx.pid;
error_log $TMP/slowfront/error.log warn;
events { worker_connections 64; }
http {
    access_log $TMP/slowfront/access.log;
    client_body_temp_path $TMP/slowfront/tmp/cb;
    proxy_temp_path $TMP/slowfront/tmp/p;
    fastcgi_temp_path $TMP/slowfront/tmp/f;
    uwsgi_temp_path $TMP/slowfront/tmp/u;
    scgi_temp_path $TMP/slowfront/tmp/s;
    server {
        listen 127.0.0.1:$SLOW_PORT;
        location /v2/ {
            proxy_pass http://$A;
            proxy_set_header Host \$http_host;
            proxy_set_header Authorization \$http_authorization;
            limit_rate_after 1m;
            limit_rate 3m;
        }
    }
}
EOF
nginx_start "$TMP/slowfront" || t_fail "throttled front starts"
SLOW_NGINX=$NGINX_PID

# ---- the mirror: several upstreams by prefix, from the environment ----------
ups="[{prefix: hub, remoteurl: 'http://$A', username: alice, password: alice-Pw1, ttl: 0},"
ups="$ups {prefix: short, remoteprefix: library, remoteurl: 'http://$A', username: alice, password: alice-Pw1, ttl: 3s},"
ups="$ups {prefix: slow, remoteprefix: library, remoteurl: 'http://127.0.0.1:$SLOW_PORT', username: alice, password: alice-Pw1}"
[ "$tok_ok" = 1 ] && ups="$ups, {prefix: tok, remoteprefix: team, remoteurl: 'http://$B', username: bob, password: bob-Pw2}"
ups="$ups]"
export REGISTRY_PROXY_UPSTREAMS=$ups
wharf_start || { t_fail "mirror starts"; exit 1; }
unset "${!REGISTRY_@}"
M=$W_HOST
MROOT=$W_ROOT
MLOG=$W_DIR/wharf.log
check "start-up warns: upstream credentials on a mirror without auth" \
	grep -q 'used with credentials.*no auth' "$MLOG"

# ---- first and second pull ----------------------------------------------------
check "first pull through the mirror (5 layers)" skopeo_copy "docker://$M/hub/library/app:v1" oci:"$TMP/pull1":v1
check "pulled blobs are the upstream's" blobs_same "$TMP/app" "$TMP/pull1"
check_eq "pulled manifest digest" "$app_digest" "$(oci_top_digest "$TMP/pull1")"
check "manifest stored in the mirror's layout" test -f \
	"$MROOT/docker/registry/v2/repositories/hub/library/app/_manifests/revisions/sha256/${app_digest#sha256:}/link"
nblobs_up=$(up_count a '"GET /v2/library/app/blobs/')
check "every layer and the config fetched from upstream a (6 GETs)" test "$nblobs_up" -eq 6
check "second pull through the mirror" skopeo_copy "docker://$M/hub/library/app:v1" oci:"$TMP/pull2":v1
check_eq "second pull: no blob fetched again" "$nblobs_up" "$(up_count a '"GET /v2/library/app/blobs/')"
check "second pull asked upstream for the tag's digest (HEAD)" \
	test "$(up_count a '"HEAD /v2/library/app/manifests/v1')" -ge 2

# ---- tag moves upstream ----------------------------------------------------------
skopeo_copy oci:"$TMP/app2":v1 "docker://$A/library/app:v1" --dest-creds alice:alice-Pw1
check "pull after the tag moved upstream" skopeo_copy "docker://$M/hub/library/app:v1" oci:"$TMP/pull3":v1
check_eq "the mirror serves the tag's new manifest" "$(oci_top_digest "$TMP/app2")" "$(oci_top_digest "$TMP/pull3")"
skopeo_copy oci:"$TMP/app":v1 "docker://$A/library/app:v1" --dest-creds alice:alice-Pw1

# ---- concurrent pulls of one large blob: fetched once ----------------------
before=$(up_count a "\"GET /v2/library/big/blobs/$big_layer")
for i in 1 2 3; do
	blob_get "http://$M/v2/hub/library/big/blobs/$big_layer" "$TMP/big.$i" &
	pids[$i]=$!
done
okc=0
for i in 1 2 3; do wait "${pids[$i]}" && okc=$((okc + 1)); done
check_eq "3 concurrent GETs of a 40 MB blob succeed" 3 "$okc"
want=${big_layer#sha256:}
check "all 3 bodies hash to the digest" sh -c "sha256sum $TMP/big.1 $TMP/big.2 $TMP/big.3 | awk '{print \$1}' | grep -vc $want | grep -qx 0"
check_eq "the upstream served the blob once" 1 $(($(up_count a "\"GET /v2/library/big/blobs/$big_layer") - before))
check "the blob is stored" test -f "$(store_blob_path "$MROOT" "$big_layer")"
check "no fetch lock file is left behind" test -z "$(find "$MROOT" -name '*.lock')"

# ---- a Range GET of a blob not cached yet: 206 with those bytes --------------
rng_layer=$(layer_of rng)
"${SKOPEO[@]}" copy --src-tls-verify=false --src-creds alice:alice-Pw1 "docker://$A/library/rng:v1" \
	"dir:$TMP/rng-up" >/dev/null 2>&1
code=$(curl -s -o "$TMP/rng.part" -w '%{http_code}' -H 'Range: bytes=1000-1999' \
	"http://$M/v2/hub/library/rng/blobs/$rng_layer")
check_eq "Range GET of an uncached blob: 206" 206 "$code"
check "Range GET of an uncached blob: the bytes of that range" \
	cmp "$TMP/rng.part" <(tail -c +1001 "$TMP/rng-up/${rng_layer#sha256:}" | head -c 1000)
check "Range GET of an uncached blob: the whole blob is stored, verified" \
	test "$(sha256sum <"$(store_blob_path "$MROOT" "$rng_layer")" | cut -d' ' -f1)" = "${rng_layer#sha256:}"

# ---- upstream killed in the middle of a blob ----------------------------------
blob_get "http://$M/v2/slow/slow/blobs/$slow_layer" "$TMP/slow.out" 2>"$TMP/slow.err" &
cpid=$!
sleep 2
kill -TERM "$SLOW_NGINX"
if wait "$cpid"; then st=0; else st=$?; fi
check "client of a blob cut off upstream gets an error (curl exit $st)" test "$st" -ne 0
check "it received less than the blob" test "$(stat -c %s "$TMP/slow.out" 2>/dev/null || echo 0)" -lt 30000000
sleep 0.5
check "nothing stored under the blob's digest" not test -e "$(store_blob_path "$MROOT" "$slow_layer")"
check "no link to it in the repository" not test -e \
	"$MROOT/docker/registry/v2/repositories/slow/slow/_layers/sha256/${slow_layer#sha256:}"
check "the upload was removed" test -z "$(ls "$MROOT/docker/registry/v2/repositories/slow/slow/_uploads" 2>/dev/null)"

# ---- multi-upstream routing: the token upstream ----------------------------
if [ "$tok_ok" = 1 ]; then
	check "pull tok/tok:v1 through the Bearer flow of upstream b" \
		skopeo_copy "docker://$M/tok/tok:v1" oci:"$TMP/tok":v1
	check "tok/tok is upstream b's team/tok" blobs_same "$TMP/app2" "$TMP/tok"
	check "upstream b was asked for team/tok" grep -q '"GET /v2/team/tok/manifests/' "$TMP/up-b/registry.log"
	check "upstream a was never asked for team/tok" not grep -q 'team/tok' "$TMP/up-a/registry.log"
	check "tokens came from Wharf's token service" grep -qE '"GET /auth/token[^"]*" 200 .*"wharf-proxy/' \
		"$TMP/reg1/nginx-access.log"
	skopeo_copy "docker://$M/tok/tok:v1" oci:"$TMP/tok2":v1
	skopeo_copy "docker://$M/tok/tok:v1" oci:"$TMP/tok3":v1
	# Wharf's own token requests (skopeo's seeding push asked the service too)
	ntok=$(grep -cE '"GET /auth/token.*"wharf-proxy/' "$TMP/reg1/nginx-access.log")
	nreq=$(grep -c 'wharf-proxy' "$TMP/up-b/registry.log")
	# tokens are cached per worker process (4 here) until they expire
	check "tokens are reused: $ntok token requests for $nreq upstream requests" \
		test "$ntok" -le 4 -a "$ntok" -lt "$nreq"
fi

# ---- own images beside the mirrors -----------------------------------------
check "push into a namespace that is not mirrored" skopeo_copy oci:"$TMP/own":v1 "docker://$M/mine/own:v1"
check "pull it back" skopeo_copy "docker://$M/mine/own:v1" oci:"$TMP/ownback":v1
check "push into a mirrored namespace is refused" not skopeo_copy oci:"$TMP/own":v1 "docker://$M/hub/own:v1"
check_eq "refused with 405 UNSUPPORTED" "405" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$M/v2/hub/own/blobs/uploads/")"

# ---- upstream down: cached tag and digest still served -----------------------
up_stop a
check "upstream down: pull by tag served from the cache" skopeo_copy "docker://$M/hub/library/app:v1" oci:"$TMP/down1":v1
check "upstream down: pull by digest served from the cache" skopeo_copy "docker://$M/hub/library/app@$app_digest" dir:"$TMP/down2"
check_eq "upstream down: an uncached image is unknown (404)" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://$M/v2/hub/library/nothere/manifests/v1")"
up_start a "$A_PORT" || t_fail "upstream a restarts"

# ---- ttl expiry (short/: ttl 3s; the master checks every second) -----------
ttl_digest=$(oci_top_digest "$TMP/ttl")
ttl_layer=$(jq -r '.layers[0].digest' "$TMP/ttl/blobs/sha256/${ttl_digest#sha256:}")
check "pull short/ttl:v1 (ttl 3s)" skopeo_copy "docker://$M/short/ttl:v1" oci:"$TMP/ttlpull":v1
rev=$MROOT/docker/registry/v2/repositories/short/ttl/_manifests/revisions/sha256/${ttl_digest#sha256:}/link
check "cached before the ttl" test -f "$rev"
check "ttl bookkeeping stored with the registry" test -d "$MROOT/wharf/proxy/access/short/ttl"
# 3 s ttl + up to 1 s until the task runs + the task's fork: at most ~6 s
for _ in $(seq 1 100); do
	[ -e "$rev" ] || [ -e "$(store_blob_path "$MROOT" "$ttl_layer")" ] || break
	sleep 0.1
done
check "manifest expired after the ttl" not test -e "$rev"
check "tag removed with it" not test -e "$MROOT/docker/registry/v2/repositories/short/ttl/_manifests/tags/v1/current/link"
check "blob data expired (no other repository links it)" not test -e "$(store_blob_path "$MROOT" "$ttl_layer")"
check "hub/ (ttl 0) kept" test -f \
	"$MROOT/docker/registry/v2/repositories/hub/library/app/_manifests/revisions/sha256/${app_digest#sha256:}/link"
check "expiry logged by the master's task" grep -q 'proxy: expired manifest short/ttl' "$MLOG"
check "pull again after expiry fetches it again" skopeo_copy "docker://$M/short/ttl:v1" oci:"$TMP/ttlpull2":v1
wharf_stop

# ---- the reference's proxy: section alone (one upstream for every name) --------
export REGISTRY_PROXY_REMOTEURL=http://$A REGISTRY_PROXY_USERNAME=alice REGISTRY_PROXY_PASSWORD=alice-Pw1
export REGISTRY_AUTH=htpasswd REGISTRY_AUTH_HTPASSWD_REALM=mirror REGISTRY_AUTH_HTPASSWD_PATH=$TMP/up-a.htpasswd
wharf_start || t_fail "mirror with proxy.remoteurl starts"
unset "${!REGISTRY_@}"
check "no warning when the mirror has auth" not grep -q 'used with credentials' "$W_DIR/wharf.log"
check "REGISTRY_PROXY_REMOTEURL: pull library/app:v1" skopeo_copy "docker://$W_HOST/library/app:v1" \
	oci:"$TMP/single":v1 --src-creds alice:alice-Pw1
check "REGISTRY_PROXY_REMOTEURL: same blobs" blobs_same "$TMP/app" "$TMP/single"
check "REGISTRY_PROXY_REMOTEURL: push refused (as the reference)" not skopeo_copy oci:"$TMP/own":v1 \
	"docker://$W_HOST/mine/own:v1" --dest-creds alice:alice-Pw1
wharf_stop

e2e_done
