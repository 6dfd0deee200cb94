#!/usr/bin/env bash
# Two Wharf nodes on one object store (issue 7): a real OpenStack Swift with
# s3api and one redis-server, started here; each node is nginx + `wharf
# serve` with the same config.yml (only fastcgi.listen/pidfile differ, from
# REGISTRY_FASTCGI_* variables); an nginx load balancer in front round-robins
# over the nodes' nginx (proxy_next_upstream). Checked: skopeo pushes through
# the balancer with PATCHes landing on both nodes (their access logs), one
# upload whose PATCHes alternate between the nodes, pulls from each node
# directly, concurrent pushes of images sharing layers, _catalog from the
# repository index (paged, same on both nodes, consistent per `wharf catalog
# rebuild --dry-run`, repaired by `wharf catalog rebuild`), and a node killed
# (its wharf processes and its nginx) in the middle of a PATCH: the client
# asks the balancer for the upload's state, re-sends the chunk, which the
# other node takes, and commits; skopeo pushes on through the survivor.
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/storage/swift_lib.sh
source "$REPO/tests/storage/swift_lib.sh"
e2e_init

if ! why=$(need_cmd skopeo jq nginx curl ss swift-proxy-server memcached redis-server redis-cli); then
	t_skip "two nodes on s3" "$why"
	exit 0
fi
at_exit swift_stop
swift_start "$TMP/swift" || {
	t_fail "swift starts" "$(tail -n 20 "$TMP"/swift/log/*.log 2>/dev/null)"
	exit 1
}
check "bucket created" swift_bucket wharf-nodes

RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
	>"$TMP/redis.log" 2>&1 </dev/null &
track_pid $!
for _ in $(seq 50); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

# one config for every node and for the command line
CFG=$TMP/config.yml
cat >"$CFG" <<EOF2
version: 0.1
log:
  level: info
storage:
  s3:
    region: us-east-1
    regionendpoint: $SWIFT_ENDPOINT
    bucket: wharf-nodes
    rootdirectory: /nodes
    secure: false
    v4auth: true
    chunksize: 5242880
  delete:
    enabled: true
  cache:
    blobdescriptor: redis
redis:
  addr: 127.0.0.1:$RPORT
  dialtimeout: 200ms
  readtimeout: 200ms
fastcgi:
  workers: 3
  blobs:
    accel: none
EOF2
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing

# node N: wharf serve + nginx on its own port; sets N<N>_PORT, N<N>_W, N<N>_NGINX
node_start() {
	local n=$1 d=$TMP/node$1 port
	mkdir -p "$d" && chmod 755 "$d"
	port=$(free_port) || return 1
	REGISTRY_FASTCGI_LISTEN=unix:$d/wharf.sock REGISTRY_FASTCGI_PIDFILE=$d/wharf.pid \
		"$WHARF_BIN" serve -c "$CFG" >"$d/wharf.log" 2>&1 </dev/null &
	local w=$!
	track_pid "$w"
	for _ in $(seq 100); do [ -S "$d/wharf.sock" ] && break; sleep 0.1; done
	nginx_render "$d" "127.0.0.1:$port" "$d/wharf.sock" "$d" "" || return 1
	nginx_start "$d" || return 1
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20 || return 1
	eval "N${n}_PORT=$port N${n}_W=$w N${n}_NGINX=$NGINX_PID"
}
# node_kill N: SIGKILL the node's wharf master and workers and its nginx
# master and workers (by PID: children found through /proc)
node_kill() {
	local n=$1 w ng p pids
	w=$(eval echo "\$N${n}_W") ng=$(eval echo "\$N${n}_NGINX")
	# (pgrep: one awk per process of the host took seconds under load, and
	# the PATCH to interrupt could end meanwhile)
	pids="$w $ng $(pgrep -P "$w,$ng" | tr '\n' ' ')"
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	for p in $pids; do wait "$p" 2>/dev/null; done
}

node_start 1 || { t_fail "node 1 starts" "$(tail -n 20 "$TMP/node1/wharf.log")"; exit 1; }
node_start 2 || { t_fail "node 2 starts" "$(tail -n 20 "$TMP/node2/wharf.log")"; exit 1; }
t_ok "two nodes (nginx + wharf serve, one config.yml) on one bucket and one redis"

# the balancer: round robin over the nodes' nginx; a node that refuses
# connections is skipped (proxy_next_upstream error), POST/PATCH included
LB=$TMP/lb
mkdir -p "$LB/tmp"
LBP=$(free_port)
cat >"$LB/nginx.conf" <<EOF2
daemon off;
worker_processes 1;
pid $LB/nginx.pid;
error_log $LB/nginx-error.log warn;
events { worker_connections 256; }
http {
    log_format lb '\$request \$status up=\$upstream_addr';
    access_log $LB/access.log lb;
    client_body_temp_path $LB/tmp/body;
    proxy_temp_path $LB/tmp/proxy;
    fastcgi_temp_path $LB/tmp/fcgi;
    uwsgi_temp_path $LB/tmp/uwsgi;
    scgi_temp_path $LB/tmp/scgi;
    upstream nodes {
        server 127.0.0.1:$N1_PORT max_fails=1 fail_timeout=30s;
        server 127.0.0.1:$N2_PORT max_fails=1 fail_timeout=30s;
    }
    server {
        listen 127.0.0.1:$LBP;
        client_max_body_size 0;
        location / {
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_next_upstream error timeout http_502 non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
        }
    }
}
EOF2
nginx_start "$LB" || { t_fail "balancer starts"; exit 1; }
LB_NGINX=$NGINX_PID
wait_http "http://127.0.0.1:$LBP/v2/" "$LB_NGINX" 20 || { t_fail "balancer answers"; exit 1; }
R=127.0.0.1:$LBP

# --- pushes through the balancer -------------------------------------------------
mkimage "$TMP/img1" --tag v1 --layers 4 --size 1500000 --compress none --seed nodes-1 >/dev/null
check "skopeo pushes a 4-layer image through the balancer" \
	skopeo_copy oci:"$TMP/img1":v1 docker://$R/nodes/one:v1 --preserve-digests
p1=$(grep -c '"PATCH /v2/nodes/one/blobs/uploads/' "$TMP/node1/nginx-access.log")
p2=$(grep -c '"PATCH /v2/nodes/one/blobs/uploads/' "$TMP/node2/nginx-access.log")
t_result "PATCHes of that push landed on both nodes (node1: $p1, node2: $p2)" \
	"$([ "$p1" -gt 0 ] && [ "$p2" -gt 0 ]; echo $?)"

# one upload, four PATCHes through the balancer: they alternate between nodes
head -c $((5 * 1024 * 1024 + 7)) /dev/urandom >"$TMP/k1"
head -c 1000 /dev/urandom >"$TMP/k2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/k3"
head -c 77 /dev/urandom >"$TMP/k4"
cat "$TMP"/k1 "$TMP"/k2 "$TMP"/k3 "$TMP"/k4 >"$TMP/kall"
kdg=sha256:$(sha256sum <"$TMP/kall" | cut -d' ' -f1)
hdr() { tr -d '\r' | awk -F': ' -v h="$1" 'tolower($1)==h{print $2}'; }
abs() { case $1 in http*) echo "$1" ;; *) echo "http://$R$1" ;; esac; }
loc=$(abs "$(curl -s -o /dev/null -D - -X POST "http://$R/v2/nodes/chunked/blobs/uploads/" | hdr location)")
uuid=$(basename "${loc%%\?*}")
off=0 ok=1
for c in k1 k2 k3 k4; do
	sz=$(stat -c %s "$TMP/$c")
	out=$(curl -s -o /dev/null -D - -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $off-$((off + sz - 1))" --data-binary @"$TMP/$c" "$loc")
	[ "$(echo "$out" | awk 'NR==1{print $2}')" = 202 ] || ok=0
	off=$((off + sz))
	[ "$(echo "$out" | hdr range)" = "0-$((off - 1))" ] || ok=0
	loc=$(abs "$(echo "$out" | hdr location)")
done
t_result "4 PATCHes of one upload through the balancer: 202 with the right Range" $((1 - ok))
u1=$(grep -c "\"PATCH /v2/nodes/chunked/blobs/uploads/$uuid" "$TMP/node1/nginx-access.log")
u2=$(grep -c "\"PATCH /v2/nodes/chunked/blobs/uploads/$uuid" "$TMP/node2/nginx-access.log")
t_result "that upload's PATCHes ran on both nodes (node1: $u1, node2: $u2)" \
	"$([ "$u1" -gt 0 ] && [ "$u2" -gt 0 ]; echo $?)"
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "PUT ?digest commits it (on whichever node)" 201 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$kdg")"
check_eq "the blob reads back through node 1" "${kdg#sha256:}" \
	"$(curl -s -L "http://127.0.0.1:$N1_PORT/v2/nodes/chunked/blobs/$kdg" | sha256sum | cut -d' ' -f1)"
check_eq "and through node 2" "${kdg#sha256:}" \
	"$(curl -s -L "http://127.0.0.1:$N2_PORT/v2/nodes/chunked/blobs/$kdg" | sha256sum | cut -d' ' -f1)"

# --- pulls from each node directly ------------------------------------------------
check "pull from node 1 directly" \
	skopeo_copy docker://127.0.0.1:$N1_PORT/nodes/one:v1 oci:"$TMP/back1":v1 --preserve-digests
check "pull from node 2 directly" \
	skopeo_copy docker://127.0.0.1:$N2_PORT/nodes/one:v1 oci:"$TMP/back2":v1 --preserve-digests
check "node 1's pull is byte-identical" blobs_same "$TMP/img1" "$TMP/back1"
check "node 2's pull is byte-identical" blobs_same "$TMP/img1" "$TMP/back2"

# --- concurrent pushes of images sharing layers ---------------------------------------
# same seed, 2..5 layers: the first layers are the same blobs in every image
for n in 2 3 4 5; do
	mkimage "$TMP/sh$n" --tag v1 --layers "$n" --size 1000000 --compress none --seed nodes-shared >/dev/null
done
pids=()
for n in 2 3 4 5; do
	skopeo_copy oci:"$TMP/sh$n":v1 docker://$R/shared/img$n:v1 --preserve-digests >"$TMP/sh$n.log" 2>&1 &
	pids+=($!)
done
skopeo_copy oci:"$TMP/sh3":v1 docker://$R/shared/twin:v1 --preserve-digests >"$TMP/twin.log" 2>&1 &
pids+=($!)
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
t_result "5 concurrent pushes of images sharing layers succeed" "$bad" "$(cat "$TMP"/sh*.log "$TMP/twin.log")"
ok=0
for n in 2 3 4 5; do
	port=$N1_PORT
	[ $((n % 2)) = 1 ] && port=$N2_PORT
	skopeo_copy docker://127.0.0.1:$port/shared/img$n:v1 oci:"$TMP/shb$n":v1 --preserve-digests &&
		blobs_same "$TMP/sh$n" "$TMP/shb$n" || ok=1
done
t_result "each pulls back byte-identical (from either node)" "$ok"

# --- _catalog from the repository index -----------------------------------------------
want=$(printf '%s\n' nodes/chunked nodes/one shared/img2 shared/img3 shared/img4 shared/img5 shared/twin)
# nodes/chunked has no manifest: not a repository for _catalog (as the reference)
want=$(echo "$want" | grep -v chunked)
for port in "$N1_PORT" "$N2_PORT"; do
	got=$(curl -s "http://127.0.0.1:$port/v2/_catalog" | jq -r '.repositories[]')
	check_eq "_catalog on node :$port lists every pushed repository" "$want" "$got"
done
# paged by 2 through the balancer (so pages alternate between nodes)
url="/v2/_catalog?n=2" got="" pages=0
while [ -n "$url" ] && [ $pages -lt 10 ]; do
	h=$(curl -s -D "$TMP/cat.h" "http://$R$url" | jq -r '.repositories[]')
	got=$(printf '%s\n%s' "$got" "$h" | sed '/^$/d')
	url=$(tr -d '\r' <"$TMP/cat.h" | awk -F': ' 'tolower($1)=="link"{print $2}' | sed -n 's/^<\([^>]*\)>.*/\1/p')
	pages=$((pages + 1))
done
check_eq "_catalog?n=2 pages (Link) through the balancer: the same list" "$want" "$got"
check_eq "... in 3 pages" 3 "$pages"
out=$("$WHARF_BIN" catalog rebuild --dry-run -c "$CFG" 2>&1)
check_eq "the index is exact after concurrent pushes (rebuild --dry-run)" \
	"6 repositories; 0 markers would be added, 0 would be rewritten, 0 would be removed" "$out"

# damage the index by hand through Swift's own API, then rebuild it
tok=$(curl -s -i -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
	"$SWIFT_ENDPOINT/auth/v1.0" | hdr x-auth-token)
surl=$(curl -s -i -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
	"$SWIFT_ENDPOINT/auth/v1.0" | hdr x-storage-url)
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
check_eq "the marker of shared/img4 is an object of the bucket" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $tok" "$surl/wharf-nodes/nodes/wharf/catalog/$(hex shared/img4)")"
curl -s -o /dev/null -X DELETE -H "X-Auth-Token: $tok" "$surl/wharf-nodes/nodes/wharf/catalog/$(hex shared/img4)"
curl -s -o /dev/null -X PUT -H "X-Auth-Token: $tok" --data-binary 'gone/repo' \
	"$surl/wharf-nodes/nodes/wharf/catalog/$(hex gone/repo)"
got=$(curl -s "http://$R/v2/_catalog" | jq -r '.repositories[]')
check_eq "a lost and a stale marker show in _catalog" \
	"$(printf '%s\n' gone/repo nodes/one shared/img2 shared/img3 shared/img5 shared/twin)" "$got"
out=$("$WHARF_BIN" catalog rebuild -c "$CFG" 2>&1)
check_eq "wharf catalog rebuild repairs it" "6 repositories; 1 markers added, 0 rewritten, 1 removed" "$out"
check_eq "_catalog is right again" "$want" "$(curl -s "http://$R/v2/_catalog" | jq -r '.repositories[]')"
"$WHARF_BIN" repository delete -c "$CFG" shared/twin >/dev/null 2>&1
check_eq "a deleted repository leaves _catalog on both nodes" "$(echo "$want" | grep -v twin)" \
	"$(curl -s "http://127.0.0.1:$N1_PORT/v2/_catalog" | jq -r '.repositories[]')"
check_eq "... (node 2)" "$(echo "$want" | grep -v twin)" \
	"$(curl -s "http://127.0.0.1:$N2_PORT/v2/_catalog" | jq -r '.repositories[]')"

# --- a node killed in the middle of a PATCH ---------------------------------------------
head -c $((6 * 1024 * 1024)) /dev/urandom >"$TMP/m1"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$TMP/m2"
cat "$TMP/m1" "$TMP/m2" >"$TMP/mall"
mdg=sha256:$(sha256sum <"$TMP/mall" | cut -d' ' -f1)
loc=$(abs "$(curl -s -o /dev/null -D - -X POST "http://$R/v2/nodes/killed/blobs/uploads/" | hdr location)")
out=$(curl -s -o /dev/null -D - -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
	-H "Content-Range: 0-$((6 * 1024 * 1024 - 1))" --data-binary @"$TMP/m1" "$loc")
check_eq "first chunk (6 MiB) accepted" 202 "$(echo "$out" | awk 'NR==1{print $2}')"
loc=$(abs "$(echo "$out" | hdr location)")
# the second chunk, slowly (512 KiB/s, 16 s: finding the receiving node and
# the upload's lease take seconds on a loaded machine): kill whichever node
# is receiving it
curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
	-H "Content-Range: $((6 * 1024 * 1024))-$((14 * 1024 * 1024 - 1))" --limit-rate 512K \
	--data-binary @"$TMP/m2" "$loc" >"$TMP/slow.code" 2>/dev/null &
slow=$!
victim=""
for _ in $(seq 40); do
	sleep 0.1
	for n in 1 2; do
		port=$(eval echo "\$N${n}_PORT")
		[ -n "$(ss -Htn state established "( dport = :$port )" 2>/dev/null)" ] && victim=$n
	done
	[ -n "$victim" ] && break
done
sleep 0.5
[ -n "$victim" ] && node_kill "$victim"
wait "$slow"
survivor=$((3 - ${victim:-1}))
t_result "node $victim killed (wharf + nginx) while it received a PATCH" \
	"$([ -n "$victim" ] && ! kill -0 "$(eval echo "\$N${victim}_W")" 2>/dev/null; echo $?)"
check_eq "the interrupted PATCH failed for the client" 1 \
	"$(grep -qE '^(202)$' "$TMP/slow.code"; echo $?)"
# the client's retry: ask the balancer where the upload stands, re-send, commit
st=$(curl -s -o /dev/null -D - "$loc")
check_eq "upload status through the balancer (the other node): 204" 204 "$(echo "$st" | awk 'NR==1{print $2}')"
rng=$(echo "$st" | hdr range)
check_eq "the upload stands at the first chunk" "0-$((6 * 1024 * 1024 - 1))" "$rng"
out=$(curl -s -o /dev/null -D - -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
	-H "Content-Range: $((6 * 1024 * 1024))-$((14 * 1024 * 1024 - 1))" --data-binary @"$TMP/m2" "$loc")
check_eq "the re-sent chunk is taken by node $survivor" 202 "$(echo "$out" | awk 'NR==1{print $2}')"
loc=$(abs "$(echo "$out" | hdr location)")
sep='?'
case $loc in *\?*) sep='&' ;; esac
check_eq "and the upload commits" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$mdg")"
check_eq "the blob is exactly the 14 MiB sent" "${mdg#sha256:}" \
	"$(curl -s -L "http://$R/v2/nodes/killed/blobs/$mdg" | sha256sum | cut -d' ' -f1)"
mkimage "$TMP/img9" --tag v1 --layers 3 --size 1000000 --compress none --seed nodes-9 >/dev/null
check "skopeo pushes on through the balancer (the dead node is skipped)" \
	skopeo_copy oci:"$TMP/img9":v1 docker://$R/nodes/after:v1 --preserve-digests --retry-times 2
check "and pulls it back" skopeo_copy docker://$R/nodes/after:v1 oci:"$TMP/img9b":v1 --preserve-digests
check "byte-identical" blobs_same "$TMP/img9" "$TMP/img9b"
sport=$(eval echo "\$N${survivor}_PORT")
n_after=$(grep -c ' /v2/nodes/after/' "$LB/access.log")
n_surv=$(grep ' /v2/nodes/after/' "$LB/access.log" | grep -c "up=\(.*, \)\?127.0.0.1:$sport\$")
t_result "the balancer sent all $n_after requests of that push to node $survivor" \
	"$([ "$n_after" -gt 0 ] && [ "$n_after" = "$n_surv" ]; echo $?)" "$(grep ' /v2/nodes/after/' "$LB/access.log" | head)"

for n in 1 2; do
	stop_pid "$(eval echo "\$N${n}_NGINX")" 5
	stop_pid "$(eval echo "\$N${n}_W")" 10
done
stop_pid "$LB_NGINX" 5
for n in 1 2; do
	if grep -qE 'killed by signal (4|6|7|8|11) ' "$TMP/node$n/wharf.log"; then
		t_fail "no worker of node $n crashed" "$(grep 'killed by signal' "$TMP/node$n/wharf.log" | head -n 3)"
	fi
done
e2e_done
