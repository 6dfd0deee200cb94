#!/usr/bin/env bash
# Maintenance and the mirror's fetch lock on S3 (issue 11), on a real
# OpenStack Swift with s3api started here: two Wharf nodes on one bucket run
# upload purging (short age and interval) and it removes an abandoned upload,
# one purge run at a time across them (the task's lease); and two concurrent
# pulls of a blob not yet cached, through the mirror on each node, fetch it
# from the upstream (a reference registry) once: the single-fetch lock is a
# lease on S3, where it used to be a no-op.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/proxy_lib.sh"
# shellcheck source=tests/storage/swift_lib.sh
source "$REPO/tests/storage/swift_lib.sh"
e2e_init
T0=$SECONDS

if ! why=$(need_cmd nginx curl docker-registry swift-proxy-server memcached); then
	t_skip "maintenance on s3" "$why"
	exit 0
fi
at_exit swift_stop
swift_start "$TMP/swift" || {
	t_fail "swift starts" "$(tail -n 20 "$TMP"/swift/log/*.log 2>/dev/null)"
	exit 1
}
diag "swift up after $((SECONDS - T0)) s"
check "bucket created" swift_bucket wharf-maint
up_start a || { t_fail "upstream starts"; exit 1; }
UP=${UP_HOST[a]}
diag "upstream up after $((SECONDS - T0)) s"

# s3_node NAME: Wharf on the bucket behind nginx; sets N_URL[NAME], N_DIR[NAME]
declare -A N_URL N_DIR
s3_node() {
	local name=$1 dir=$TMP/$1 port
	mkdir -p "$dir"
	chmod 755 "$dir"
	port=$(free_port) || return 1
	cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: info
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: wharf-maint
    rootdirectory: /maint/root
    secure: false
    v4auth: true
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 3s
      interval: 1s
proxy:
  upstreams:
    - {prefix: hub, remoteurl: 'http://$UP'}
http:
  secret: e2e-s3-maint-secret
fastcgi:
  listen: unix:$dir/wharf.sock
  workers: 3
  blobs:
    accel: none
  pidfile: $dir/wharf.pid
YML
	AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
		"$WHARF_BIN" serve -c "$dir/config.yml" >"$dir/wharf.log" 2>&1 </dev/null &
	track_pid $!
	for _ in $(seq 100); do [ -S "$dir/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$dir" "127.0.0.1:$port" "$dir/wharf.sock" "$dir" "" || return 1
	nginx_start "$dir" || return 1
	N_URL[$name]=http://127.0.0.1:$port
	N_DIR[$name]=$dir
	wait_http "${N_URL[$name]}/v2/" "$NGINX_PID" 20
}
s3_node n1 || { t_fail "node 1 starts" "$(tail -n 20 "$TMP/n1/wharf.log")"; exit 1; }
s3_node n2 || { t_fail "node 2 starts" "$(tail -n 20 "$TMP/n2/wharf.log")"; exit 1; }

diag "nodes up after $((SECONDS - T0)) s"
# ---- upload purging on S3 ---------------------------------------------------
loc=$(curl -si -X POST "${N_URL[n1]}/v2/pu/s3/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
uuid=${loc##*/}
uuid=${uuid%%\?*}
code=$(curl -s -o /dev/null -w '%{http_code}' "${N_URL[n2]}/v2/pu/s3/blobs/uploads/$uuid")
check_eq "an upload started (its status on the other node: 204)" 204 "$code"
for _ in $(seq 1 60); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "${N_URL[n1]}/v2/pu/s3/blobs/uploads/$uuid")
	[ "$code" = 404 ] && break
	sleep 0.25
done
check_eq "the abandoned upload is purged from the bucket (404 once older than age)" 404 "$code"
check "a node logged the purge" grep -qh 'upload purging: [1-9][0-9]* upload' "$TMP/n1/wharf.log" "$TMP/n2/wharf.log"
sleep 2
runs=$(cat "$TMP/n1/wharf.log" "$TMP/n2/wharf.log" | grep -c 'upload purging: [0-9]* upload')
skips=$(cat "$TMP/n1/wharf.log" "$TMP/n2/wharf.log" | grep -c 'upload purging: skipped')
diag "purge runs $runs, turns skipped while another node's run held the lease $skips"
check "purging runs repeatedly on S3 (both nodes schedule it)" test "$runs" -ge 2
check "no purge run failed" not grep -qh 'upload purging: .*failed\|upload purging: [A-Za-z ]*error\|cannot take its lock' "$TMP/n1/wharf.log" "$TMP/n2/wharf.log"

# ---- the mirror's single fetch on S3 ----------------------------------------
head -c $((16 * 1024 * 1024)) /dev/urandom >"$TMP/big"
dg=sha256:$(sha256sum "$TMP/big" | cut -d' ' -f1)
uloc=$(curl -si -X POST "http://$UP/v2/lib/big/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
case $uloc in /*) uloc=http://$UP$uloc ;; esac
case $uloc in *\?*) sep='&' ;; *) sep='?' ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$TMP/big" \
	-H 'Content-Type: application/octet-stream' "$uloc${sep}digest=$dg")
check_eq "blob pushed to the upstream" 201 "$code"
before=$(up_count a "\"GET /v2/lib/big/blobs/$dg ")
curl -sS -L -o "$TMP/p1" "${N_URL[n1]}/v2/hub/lib/big/blobs/$dg" &
p1=$!
curl -sS -L -o "$TMP/p2" "${N_URL[n2]}/v2/hub/lib/big/blobs/$dg" &
p2=$!
curl -sS -L -o "$TMP/p3" "${N_URL[n1]}/v2/hub/lib/big/blobs/$dg" &
p3=$!
wait $p1 $p2 $p3
for f in p1 p2 p3; do
	check_eq "pull $f through the mirror: the blob" "$dg" "sha256:$(sha256sum "$TMP/$f" | cut -d' ' -f1)"
done
after=$(up_count a "\"GET /v2/lib/big/blobs/$dg ")
check_eq "three concurrent pulls on two nodes fetched the blob from the upstream once" 1 $((after - before))
diag "took $((SECONDS - T0)) s"
e2e_done
