#!/usr/bin/env bash
# The repository index on storage.s3 (issue 17), on a real OpenStack Swift
# with s3api: the checks of catalog_lib.sh (list, search by name, tag, label
# and digest, deletes, kill -9 during puts then `wharf catalog rebuild`)
# through one node, and a second node on the same bucket answering the list
# and search with what the first one pushed and deleted.
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/storage/swift_lib.sh
source "$REPO/tests/storage/swift_lib.sh"
source "$(dirname "$0")/catalog_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl swift-proxy-server memcached); then
	t_skip "repository index on s3" "$why"
	exit 0
fi
[ "$E2E_TARGET" = reference ] && { t_skip "repository index on s3" "Wharf only"; exit 0; }
at_exit swift_stop
swift_start "$TMP/swift" || {
	t_fail "swift starts" "$(tail -n 20 "$TMP"/swift/log/*.log 2>/dev/null)"
	exit 1
}
check "bucket created" swift_bucket wharf-cat
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing

# node NAME: Wharf on the bucket behind nginx; sets W_* as wharf_start does
node() {
	W_DIR=$TMP/$1
	mkdir -p "$W_DIR"
	chmod 755 "$W_DIR"
	local port
	port=$(free_port) || return 1
	W_HOST=127.0.0.1:$port
	W_URL=http://$W_HOST
	cat >"$W_DIR/config.yml" <<EOF2
version: 0.1
log:
  level: info
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: wharf-cat
    rootdirectory: /cat
    secure: false
    v4auth: true
  delete:
    enabled: true
http:
  secret: e2e-cat-shared-secret
fastcgi:
  listen: unix:$W_DIR/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $W_DIR/wharf.pid
EOF2
	"$WHARF_BIN" serve -c "$W_DIR/config.yml" >"$W_DIR/wharf.log" 2>&1 </dev/null &
	W_PID=$!
	track_pid "$W_PID"
	for _ in $(seq 100); do [ -S "$W_DIR/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$W_DIR" "$W_HOST" "$W_DIR/wharf.sock" "$W_DIR" "" || return 1
	nginx_start "$W_DIR" || return 1
	W_NGINX_PID=$NGINX_PID
	wait_http "$W_URL/v2/" "$W_NGINX_PID" 20 || {
		diag "$(tail -n 20 "$W_DIR/wharf.log")"
		return 1
	}
}

node n2 || { t_fail "second node starts"; exit 1; }
N2_URL=$W_URL
node n1 || { t_fail "first node starts"; exit 1; }
CAT_CRASH_PUTS=120 CAT_CRASH_SLEEP=1 catalog_checks "$W_DIR/config.yml"

# the second node: same answers from the same markers
check_eq "node 2 lists what node 1 left" "cat/beta,cat/crash,cat/multi" \
	"$(curl -s "$N2_URL/_wharf/api/repositories" | jq -r '[.repositories[].name]|join(",")')"
check_eq "node 2 finds cat/beta by its label" "cat/beta" \
	"$(curl -s "$N2_URL/_wharf/api/search?q=team%3Dred" | jq -r '[.repositories[].name]|join(",")')"
check_eq "node 1 deletes cat/beta:v1" 202 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$W_URL/v2/cat/beta/manifests/v1")"
check_eq "node 2's search follows at once" none \
	"$(curl -s "$N2_URL/_wharf/api/search?q=team%3Dred" | jq -r '[.repositories[].name]|join(",")' | sed 's/^$/none/')"
check_eq "node 2's list: cat/beta has no tag" 0 \
	"$(curl -s "$N2_URL/_wharf/api/repositories?filter=beta" | jq -r '.repositories[0].tags')"
e2e_done
