#!/usr/bin/env bash
# t_image.sh — issue 16: the wharf container image (make image,
# admin/image.sh) run as the course runs the reference's `registry` image, on a
# private dockerd: run, tag, push, remove, pull; re-created with the data bind
# mounted (read-only root, non-root user), data found again in a layout the
# reference (docker-registry) serves; the reference's TLS and htpasswd `-e`
# recipes; logs on stdout; the health check; `docker stop` drains an upload in
# flight. Ports are free ones instead of 5000.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image_lib.sh"
e2e_init

if ! why=$(need_cmd dockerd tini tini-static skopeo curl nginx openssl htpasswd ip docker-registry jq); then
	t_skip "container image" "$why"
	e2e_done
	exit
fi
image_dockerd_start || { t_fail "dockerd starts"; e2e_done; exit; }
image_build "$TMP/wharf-image.oci.tar"
if [ $? -ne 0 ]; then
	t_fail "make image builds wharf:latest" "$(tail -n 5 "$TMP/image-build.log")"
	e2e_done
	exit
fi
t_ok "make image builds wharf:latest"
"${SKOPEO[@]}" inspect --config "oci-archive:$TMP/wharf-image.oci.tar" >"$TMP/oci-config.json" 2>&1
t_result "the OCI archive for podman/skopeo" $? "$(tail -n 3 "$TMP/oci-config.json")"
check_eq "its entry point is the image's" '["/usr/bin/tini","--","/usr/lib/wharf/admin/image/entrypoint.sh"]' \
	"$(jq -c .config.Entrypoint "$TMP/oci-config.json" 2>/dev/null)"
diag "wharf:latest: $IMG_SIZE bytes"
# the reference's official image is about 25 MB: not bigger
if ldd "$BUILD/wharf" 2>/dev/null | grep -q libasan; then
	t_skip "the image is at most 25.5 MB" "a sanitizer build (its runtime is in the image)"
else
	check "the image is at most 25.5 MB (S3 and the mirror included)" test "${IMG_SIZE:-999999999}" -le 25500000
fi
check "a local hello-world image" image_hello

# ---- the course: docker container run -d -p 5000:5000 --name registry registry
P=$(free_port)
R=127.0.0.1:$P
check "docker container run -d -p $P:5000 --name registry wharf:latest" \
	"$DOCKER" container run -d -p "$R:5000" --name registry wharf:latest
check "the registry answers on the published port" image_wait_up registry "http://$R/v2/"
check "docker tag hello-world $R/hello-world" "$DOCKER" tag hello-world "$R/hello-world"
"$DOCKER" push "$R/hello-world" >"$TMP/push1.out" 2>&1
t_result "docker push $R/hello-world" $? "$(tail -n 5 "$TMP/push1.out")"
id0=$("$DOCKER" image inspect -f '{{.Id}}' hello-world)
check "docker image remove (both names)" "$DOCKER" image rm hello-world "$R/hello-world"
"$DOCKER" pull "$R/hello-world" >"$TMP/pull1.out" 2>&1
t_result "docker pull $R/hello-world" $? "$(tail -n 5 "$TMP/pull1.out")"
check_eq "the pulled image is the pushed one" "$id0" "$("$DOCKER" image inspect -f '{{.Id}}' "$R/hello-world" 2>/dev/null)"
"$DOCKER" logs registry >"$TMP/logs1.out" 2>&1
# (nginx's format: the combined one plus te=, cl=, rl=, rt=; Wharf's own
# access log is the combined one)
"$DOCKER" logs registry 2>/dev/null >"$TMP/stdout1.out"
check "nginx's access log on the container's stdout" \
	grep -q '"PUT /v2/hello-world/manifests/latest HTTP/1.1" 201 .* te=' "$TMP/stdout1.out"
"$DOCKER" logs registry 2>&1 >/dev/null | grep -c . >"$TMP/n" || true
check "Wharf's log on the container's stderr" test "$(cat "$TMP/n")" -gt 0
check "docker container rm -f registry" "$DOCKER" container rm -f -v registry

# ---- -v $(pwd)/registry-data:/var/lib/registry, read-only root, non-root user
data=$TMP/registry-data
mkdir -p "$data"
chown 65534:65534 "$data"
run_data() {
	"$DOCKER" container run -d -p "$R:5000" --name registry \
		-v "$data:/var/lib/registry" --read-only --tmpfs /tmp --user 65534:65534 wharf:latest
}
check "run with the data bind mounted, --read-only --tmpfs /tmp --user 65534:65534" run_data
check "that registry answers" image_wait_up registry "http://$R/v2/"
check "docker tag $R/hello-world $R/course/hello:v1" "$DOCKER" tag "$R/hello-world" "$R/course/hello:v1"
"$DOCKER" push "$R/course/hello:v1" >"$TMP/push2.out" 2>&1
t_result "docker push into the bind-mounted storage" $? "$(tail -n 5 "$TMP/push2.out")"
check "the data is in the bind mount, in the reference's layout" \
	test -d "$data/docker/registry/v2/repositories/course/hello/_manifests/tags/v1"
check_eq "written by the container's user (65534)" 65534 "$(stat -c %u "$data/docker/registry/v2/blobs")"
# health: the image's HEALTHCHECK (every 10 s) turns healthy
for ((i = 0; i < 250; i++)); do
	st=$("$DOCKER" inspect -f '{{.State.Health.Status}}' registry 2>/dev/null)
	[ "$st" = starting ] || break
	sleep 0.1
done
check_eq "HEALTHCHECK: healthy" healthy "$st"

# docker stop while an upload is in flight: nginx finishes receiving it, Wharf
# commits it, then both stop (exit 0)
head -c 1500000 /dev/urandom >"$TMP/slow.bin"
dg=sha256:$(sha256sum "$TMP/slow.bin" | cut -d' ' -f1)
loc=$(curl -s -D - -o /dev/null -X POST "http://$R/v2/course/slow/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case $loc in http*) ;; *) loc=http://$R$loc ;; esac
case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
curl -s -o "$TMP/slow.out" -w '%{http_code}' --limit-rate 300k -X PUT -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/slow.bin" "$loc${sep}digest=$dg" >"$TMP/slow.code" 2>&1 &
cpid=$!
sleep 1.5
t0=$SECONDS
"$DOCKER" stop registry >/dev/null 2>&1
stopped=$((SECONDS - t0))
wait "$cpid"
check_eq "docker stop: the upload in flight completes (201)" 201 "$(cat "$TMP/slow.code")"
check "docker stop: within its 10 s" test "$stopped" -le 11
check_eq "docker stop: the container exits 0" 0 "$("$DOCKER" inspect -f '{{.State.ExitCode}}' registry)"
"$DOCKER" logs registry >"$TMP/logs2.out" 2>&1
check "docker stop: nginx logged the upload before stopping" grep -q "\"PUT /v2/course/slow/blobs/uploads/.* 201 .* te=" "$TMP/logs2.out"
check "the drained blob is in the bind mount" test -f "$(store_blob_path "$data" "$dg")"
check "docker container rm registry" "$DOCKER" container rm -v registry

check "re-created with the same bind mount" run_data
check "it answers" image_wait_up registry "http://$R/v2/"
check "docker image remove" "$DOCKER" image rm "$R/course/hello:v1"
"$DOCKER" pull "$R/course/hello:v1" >"$TMP/pull2.out" 2>&1
t_result "docker pull finds the data pushed before" $? "$(tail -n 5 "$TMP/pull2.out")"
check_eq "the drained upload's blob is served" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/course/slow/blobs/$dg")"
# a pull-through mirror of that registry: the reference's
# -e REGISTRY_PROXY_REMOTEURL recipe (libcurl, loaded by wharf, is in the image)
ip1=$("$DOCKER" inspect -f '{{.NetworkSettings.IPAddress}}' registry)
M=127.0.0.1:$(free_port)
check "mirror: run with REGISTRY_PROXY_REMOTEURL=http://$ip1:5000" \
	"$DOCKER" container run -d -p "$M:5000" --name mirror -e "REGISTRY_PROXY_REMOTEURL=http://$ip1:5000" wharf:latest
check "mirror: it answers" image_wait_up mirror "http://$M/v2/"
"$DOCKER" pull "$M/course/hello:v1" >"$TMP/pull3.out" 2>&1
t_result "mirror: docker pull through the mirror" $? "$(tail -n 5 "$TMP/pull3.out")"
check_eq "mirror: the same image" "$("$DOCKER" image inspect -f '{{.Id}}' "$R/course/hello:v1" 2>/dev/null)" \
	"$("$DOCKER" image inspect -f '{{.Id}}' "$M/course/hello:v1" 2>/dev/null)"
ipm=$("$DOCKER" inspect -f '{{.NetworkSettings.IPAddress}}' mirror)
"$DOCKER" logs registry >"$TMP/upstream.log" 2>&1
check "mirror: the mirror ($ipm) fetched the image from upstream (the upstream's log)" \
	grep -qE "^$ipm .*/v2/course/hello/(manifests|blobs)/" "$TMP/upstream.log"
"$DOCKER" container rm -f -v mirror >/dev/null
check "docker container rm -f registry" "$DOCKER" container rm -f -v registry

# the reference registry serves the same directory
if refreg_start "$TMP/ref" "$data"; then
	check "docker-registry serves the bind mount's tag" test "$(curl -s "http://$R_HOST/v2/course/hello/tags/list" | jq -r '.tags[0]')" = v1
	check "docker-registry serves the bind mount's image" skopeo_copy "docker://$R_HOST/course/hello:v1" "oci:$TMP/refpull:v1"
	refreg_stop
else
	t_fail "docker-registry starts on the bind mount"
fi

# ---- the reference's TLS and htpasswd recipes, as documented:
#   -v "$(pwd)"/certs:/certs -e REGISTRY_HTTP_ADDR=0.0.0.0:443
#   -e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt -e REGISTRY_HTTP_TLS_KEY=/certs/domain.key
#   -v "$(pwd)"/auth:/auth -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM="Registry Realm"
#   -e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd
mkdir -p "$TMP/certs" "$TMP/auth"
openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$TMP/certs/domain.key" -x509 -days 2 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -out "$TMP/certs/domain.crt" >/dev/null 2>&1
htpasswd -Bbn testuser testpassword >"$TMP/auth/htpasswd"
# ... with a configuration file of one's own mounted where the reference's is
cat >"$TMP/config.yml" <<'EOF'
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Mounted-Config: [yes]
EOF
T=127.0.0.1:$(free_port)
check "TLS: run with REGISTRY_HTTP_TLS_CERTIFICATE/KEY on 0.0.0.0:443, a mounted config.yml" \
	"$DOCKER" container run -d -p "$T:443" --name registry-tls -v "$TMP/certs:/certs" \
	-v "$TMP/config.yml:/etc/docker/registry/config.yml:ro" \
	-e REGISTRY_HTTP_ADDR=0.0.0.0:443 \
	-e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt -e REGISTRY_HTTP_TLS_KEY=/certs/domain.key wharf:latest
check "TLS: nginx serves https with that certificate" image_wait_up registry-tls "https://$T/v2/" --cacert "$TMP/certs/domain.crt"
check "the mounted /etc/docker/registry/config.yml is the one in force" bash -c \
	"curl -s -D - -o /dev/null --cacert '$TMP/certs/domain.crt' https://$T/v2/ | grep -qi '^X-Mounted-Config: yes'"
# a configuration file elsewhere, given as the command (the reference image's
# entry point takes CONFIG.yml or serve CONFIG); wharf commands and others
X=127.0.0.1:$(free_port)
check "a config file given as the command: wharf:latest /srv/alt.yml" \
	"$DOCKER" container run -d -p "$X:5000" --name registry-alt -v "$TMP/config.yml:/srv/alt.yml:ro" wharf:latest /srv/alt.yml
check "that registry answers" image_wait_up registry-alt "http://$X/v2/"
check "it serves that file" bash -c "curl -s -D - -o /dev/null http://$X/v2/ | grep -qi '^X-Mounted-Config: yes'"
"$DOCKER" container rm -f -v registry-alt >/dev/null
check "a wharf command: docker run --rm wharf:latest config check -c ..." bash -c \
	"'$DOCKER' run --rm wharf:latest config check -c /etc/docker/registry/config.yml | grep -q 'rootdirectory: \"/var/lib/registry\"'"
check_eq "any other command runs as it is" hello "$("$DOCKER" run --rm wharf:latest sh -c 'echo hello' 2>&1)"
check_eq "TLS: no plain http on that port" 400 "$(curl -s -o /dev/null -w '%{http_code}' "http://$T/v2/")"
check "docker tag for the TLS registry" "$DOCKER" tag "$R/hello-world" "$T/tls/hello:v1"
"$DOCKER" push "$T/tls/hello:v1" >"$TMP/push3.out" 2>&1
t_result "TLS: docker push" $? "$(tail -n 5 "$TMP/push3.out")"
check "TLS: the pushed manifest over https" curl -sf --cacert "$TMP/certs/domain.crt" -o /dev/null \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "https://$T/v2/tls/hello/manifests/v1"
check "TLS: the health check turns healthy over https" bash -c "for i in \$(seq 1 250); do
	[ \"\$('$DOCKER' inspect -f '{{.State.Health.Status}}' registry-tls)\" = healthy ] && exit 0; sleep 0.1; done; exit 1"
"$DOCKER" container rm -f -v registry-tls >/dev/null

A=127.0.0.1:$(free_port)
check "htpasswd + TLS: run with REGISTRY_AUTH=htpasswd" \
	"$DOCKER" container run -d -p "$A:443" --name registry-auth -v "$TMP/auth:/auth" -v "$TMP/certs:/certs" \
	-e REGISTRY_AUTH=htpasswd -e 'REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm' \
	-e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd -e REGISTRY_HTTP_ADDR=0.0.0.0:443 \
	-e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt -e REGISTRY_HTTP_TLS_KEY=/certs/domain.key wharf:latest
check "htpasswd: the registry answers" image_wait_up registry-auth "https://$A/v2/" --cacert "$TMP/certs/domain.crt"
check_eq "htpasswd: /v2/ without credentials is 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/certs/domain.crt" "https://$A/v2/")"
check "docker tag for the htpasswd registry" "$DOCKER" tag "$R/hello-world" "$A/auth/hello:v1"
"$DOCKER" push "$A/auth/hello:v1" >"$TMP/push4.out" 2>&1
check_eq "htpasswd: docker push without login is refused" 1 "$?"
check "htpasswd: docker login -u testuser" "$DOCKER" login -u testuser -p testpassword "$A"
"$DOCKER" push "$A/auth/hello:v1" >"$TMP/push5.out" 2>&1
t_result "htpasswd: docker push after login" $? "$(tail -n 5 "$TMP/push5.out")"
check_eq "htpasswd: the manifest with the credentials" 200 "$(curl -s -o /dev/null -w '%{http_code}' \
	--cacert "$TMP/certs/domain.crt" -u testuser:testpassword \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "https://$A/v2/auth/hello/manifests/v1")"
check "htpasswd: the health check turns healthy (401 is up)" bash -c "for i in \$(seq 1 250); do
	[ \"\$('$DOCKER' inspect -f '{{.State.Health.Status}}' registry-auth)\" = healthy ] && exit 0; sleep 0.1; done; exit 1"
"$DOCKER" container rm -f -v registry-auth >/dev/null

e2e_done
