#!/usr/bin/env bash
# auth.htpasswd configured by environment alone (REGISTRY_AUTH=htpasswd ...):
# the Basic challenge, 401 JSON, failed logins logged with the address and
# without the password, non-bcrypt lines ignored with a warning, a missing file
# stops start-up; skopeo --creds, podman login, buildah --creds and docker
# login push and pull through nginx.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo podman buildah jq nginx curl); then
	t_skip "htpasswd auth" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "htpasswd auth" "Wharf only"; exit 0; }

mk_htpasswd "$TMP/htpasswd" alice:s3cret-Alice bob:b0b-pass
echo 'legacy:$apr1$abcdefgh$0123456789abcdefghijkl' >>"$TMP/htpasswd"

# a missing file stops start-up with a clear error
out=$(REGISTRY_AUTH=htpasswd REGISTRY_AUTH_HTPASSWD_REALM=x REGISTRY_AUTH_HTPASSWD_PATH=$TMP/nope \
	REGISTRY_STORAGE=inmemory REGISTRY_FASTCGI_LISTEN=unix:$TMP/x.sock timeout 10 "$WHARF_BIN" serve 2>&1)
st=$?
if [ "$st" -ne 0 ] && [ "$st" -ne 124 ] && echo "$out" | grep -q "$TMP/nope"; then
	t_ok "missing htpasswd file stops start-up naming the file"
else
	t_fail "missing htpasswd file stops start-up naming the file" "status $st" "$out"
fi

export REGISTRY_AUTH=htpasswd
export REGISTRY_AUTH_HTPASSWD_REALM="Wharf Registry"
export REGISTRY_AUTH_HTPASSWD_PATH=$TMP/htpasswd
cfg=$(REGISTRY_STORAGE=inmemory "$WHARF_BIN" config check 2>&1)
check "config check shows the htpasswd section" grep -q 'htpasswd:' <<<"$cfg"
wharf_start || { t_fail "registry starts"; exit 1; }
unset REGISTRY_AUTH REGISTRY_AUTH_HTPASSWD_REALM REGISTRY_AUTH_HTPASSWD_PATH
t_ok "registry starts with htpasswd from the environment"

check_eq "GET /v2/ without credentials: 401" 401 "$(http_code "$W_URL/v2/")"
check_eq "challenge" 'Basic realm="Wharf Registry"' "$(www_auth "$W_URL/v2/")"
check_eq "401 body is the spec's UNAUTHORIZED" UNAUTHORIZED "$(err_code "$W_URL/v2/")"
check_eq "wrong password: 401" 401 "$(http_code -u alice:wrong-Pass-42 "$W_URL/v2/")"
check_eq "unknown user: 401" 401 "$(http_code -u mallory:x "$W_URL/v2/")"
check_eq "non-bcrypt user cannot log in" 401 "$(http_code -u legacy:x "$W_URL/v2/")"
check_eq "malformed Basic: 401" 401 "$(http_code -H 'Authorization: Basic %%%' "$W_URL/v2/")"
check_eq "Bearer instead of Basic: 401" 401 "$(http_code -H 'Authorization: Bearer abc' "$W_URL/v2/")"
check_eq "right password: 200" 200 "$(http_code -u alice:s3cret-Alice "$W_URL/v2/")"
check_eq "catalog needs auth" 401 "$(http_code "$W_URL/v2/_catalog")"
check_eq "push needs auth" 401 "$(http_code -X POST "$W_URL/v2/x/y/blobs/uploads/")"
sleep 0.3
check "failed login logged with user and address" \
	grep -qE 'failed login for user \\?"alice\\?" from 127.0.0.1' "$W_DIR/wharf.log"
check "no password in the log" not grep -q 'wrong-Pass-42' "$W_DIR/wharf.log"
check "non-bcrypt line ignored with a warning naming the line" \
	grep -qE "htpasswd .*:3: user legacy: not a bcrypt hash" "$W_DIR/wharf.log"

clients_setup
if need_cmd dockerd >/dev/null && dockerd_start; then :; else DOCKER=; t_skip "docker with htpasswd" "no dockerd"; fi
clients_roundtrip htpasswd alice s3cret-Alice team

# SIGHUP re-reads the htpasswd file (the app is rebuilt)
check_eq "carol unknown before the reload" 401 "$(http_code -u carol:c4rol "$W_URL/v2/")"
mk_htpasswd "$TMP/htpasswd" alice:s3cret-Alice carol:c4rol
kill -HUP "$W_PID"
ok=0
for _ in $(seq 1 50); do
	[ "$(http_code -u carol:c4rol "$W_URL/v2/")" = 200 ] && { ok=1; break; }
	sleep 0.1
done
check_eq "SIGHUP reload: carol logs in" 1 "$ok"
check_eq "SIGHUP reload: bob removed" 401 "$(http_code -u bob:b0b-pass "$W_URL/v2/")"
rm -f "$TMP/htpasswd"
kill -HUP "$W_PID"
sleep 0.5
check "reload with a missing htpasswd keeps the running configuration" \
	grep -q "reload: htpasswd .*cannot open.*keeping the running configuration" "$W_DIR/wharf.log"
check_eq "still serving after the refused reload" 200 "$(http_code -u carol:c4rol "$W_URL/v2/")"

wharf_stop

# auth.silly (development only): any Authorization header passes
export REGISTRY_AUTH=silly REGISTRY_AUTH_SILLY_REALM=http://auth.example/token REGISTRY_AUTH_SILLY_SERVICE=dev
wharf_start || { t_fail "registry starts with auth.silly"; exit 1; }
unset REGISTRY_AUTH REGISTRY_AUTH_SILLY_REALM REGISTRY_AUTH_SILLY_SERVICE
check_eq "silly: 401 without Authorization" 401 "$(http_code "$W_URL/v2/team/a/tags/list")"
check_eq "silly: Bearer challenge with scope" \
	'Bearer realm="http://auth.example/token",service="dev",scope="repository:team/a:pull"' \
	"$(www_auth "$W_URL/v2/team/a/tags/list")"
check_eq "silly: any Authorization header passes" 404 \
	"$(http_code -H 'Authorization: Bearer whatever' "$W_URL/v2/team/a/tags/list")"
wharf_stop
e2e_done
