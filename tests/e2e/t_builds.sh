#!/usr/bin/env bash
# t_builds.sh — automated builds (issue 18), offline, through `make run`
# (admin/run.sh with CONFIG=config.yml holding a builds section, htpasswd
# auth): two local git repositories (one served by file://, one by `git
# daemon`), a Dockerfile each, the second FROM the first's image.
#   - a GitHub-style signed push webhook builds the first: the image appears
#     under the rule's tag with the source/revision labels and the build
#     argument, and runs (podman, runc) with the committed content;
#   - a bad or missing signature is refused (401) and builds nothing; the
#     same delivery again, or the same commit under a new delivery id, is
#     refused as a replay (409); an unknown source is 404;
#   - the JSON API lists the builds with their state and log; "build now"
#     needs an admin and the CSRF token; it builds the second source;
#   - a new commit of the first (Gitea-style webhook, a tag rule) rebuilds
#     it, and the second is rebuilt once from the new image (a chained build
#     carrying its chain), and runs with the new content; GitLab's token and
#     a Bitbucket payload are accepted;
#   - a cancelled build ends cancelled; the builds' temporary dirs are gone;
#   - `wharf config check` refuses a bad builds section with the key's path.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/auth_lib.sh"
e2e_init
need=$(need_cmd git buildah podman skopeo curl jq openssl gcc nginx runc) || {
	t_skip "builds" "$need"
	e2e_done
	exit
}

# ---- wharf config check validates the section ------------------------------
cat >"$TMP/bad.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $TMP/x}}
http: {addr: ":5000"}
builds:
  sources:
    - name: app
      git: file:///nowhere
      secret: "short"
      repository: demo/app
      rules: [{branch: main, tag: latest}]
EOF
out=$("$WHARF_BIN" config check -c "$TMP/bad.yml" 2>&1)
check "config check: a short secret is refused with its path" grep -q 'builds.sources\[0\]: secret: required, at least 16' <<<"$out"
sed -i 's/"short"/"0123456789abcdef0123"/; s/tag: latest}/tag: latest, tag_template: x}/' "$TMP/bad.yml"
out=$("$WHARF_BIN" config check -c "$TMP/bad.yml" 2>&1)
check "config check: tag_template on a branch rule is refused" grep -q 'rules\[0\]: tag_template is for tag rules' <<<"$out"
sed -i 's/, tag_template: x}/}/' "$TMP/bad.yml"
out=$("$WHARF_BIN" config check -c "$TMP/bad.yml" 2>&1)
check "config check: a good section prints with the secret masked" \
	grep -q 'secret: "\*\*\*\*\*' <<<"$out"
check "config check: builds.registry defaults to http.addr" grep -q 'registry: "127.0.0.1:5000"' <<<"$out"

# ---- two git repositories ---------------------------------------------------
G=$TMP/git
mkdir -p "$G/work-base" "$G/work-app"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
git init -q --bare "$G/base.git" && git -C "$G/base.git" symbolic-ref HEAD refs/heads/main
git init -q --bare "$G/app.git" && git -C "$G/app.git" symbolic-ref HEAD refs/heads/main
# a static program that prints /message.txt: the images are FROM scratch
printf '#include <stdio.h>\nint main(void){FILE*f=fopen("/message.txt","r");char b[256];size_t n=f?fread(b,1,sizeof b,f):0;fwrite(b,1,n,stdout);f=fopen("/extra.txt","r");n=f?fread(b,1,sizeof b,f):0;fwrite(b,1,n,stdout);return 0;}\n' >"$TMP/app.c"
gcc -static -O2 -o "$TMP/showmsg" "$TMP/app.c" || t_fail "a static test program"

PORT=$(free_port)
GPORT=$(free_port)
cd "$G/work-base" && git init -q -b main && cp "$TMP/showmsg" showmsg &&
	printf 'base v1\n' >message.txt &&
	printf 'FROM scratch\nARG GREETING=none\nLABEL greeting=$GREETING\nCOPY showmsg /showmsg\nCOPY message.txt /message.txt\nCMD ["/showmsg"]\n' >Dockerfile &&
	git add -A && git commit -qm v1 && git push -q "$G/base.git" main && cd "$TMP"
BASE1=$(git -C "$G/base.git" rev-parse main)
cd "$G/work-app" && git init -q -b main && mkdir sub &&
	printf 'app on top\n' >sub/extra.txt &&
	printf 'FROM 127.0.0.1:%s/demo/base:latest AS base\nFROM base\nCOPY extra.txt /extra.txt\n' "$PORT" >sub/Containerfile &&
	git add -A && git commit -qm app && git push -q "$G/app.git" main && cd "$TMP"

git daemon --base-path="$G" --export-all --listen=127.0.0.1 --port="$GPORT" --reuseaddr \
	--pid-file="$TMP/gitd.pid" >"$TMP/gitd.log" 2>&1 &
track_pid $!

# a notifications endpoint: build events go through the notifications
SINKPORT=$(free_port)
python3 "$E2E_DIR/fixtures/notify_sink.py" "$SINKPORT" "$TMP/events.jsonl" >/dev/null 2>"$TMP/sink.log" &
track_pid $!
# a git server that accepts and never answers: a build that hangs
HANGPORT=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); c=[]
while True: c.append(s.accept())' "$HANGPORT" >/dev/null 2>&1 &
track_pid $!

SECRET_BASE=$(openssl rand -hex 24)
SECRET_APP=$(openssl rand -hex 24)
mk_htpasswd "$TMP/users" admin:admin-Pw1 builder:builder-Pw2
cat >"$TMP/config.yml" <<EOF
version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: $TMP/data}
auth:
  htpasswd: {realm: wharf, path: $TMP/users}
http:
  addr: 127.0.0.1:$PORT
  secret: $(openssl rand -hex 16)
builds:
  workdir: $TMP/builds
  tlsverify: false
  username: builder
  password: builder-Pw2
  timeout: 3m
  sources:
    - name: base
      git: file://$G/base.git
      secret: "$SECRET_BASE"
      repository: demo/base
      rules:
        - {branch: main, tag: latest}
        - {tag: '^v([0-9.]+)\$', tag_template: '{1}'}
      args: {GREETING: from-config}
    - name: app
      git: git://127.0.0.1:$GPORT/app.git
      secret: "$SECRET_APP"
      repository: demo/app
      dockerfile: sub/Containerfile
      context: sub
      rules:
        - {branch: main, tag: edge}
    - name: hang
      git: git://127.0.0.1:$HANGPORT/hang.git
      secret: "$SECRET_APP"
      repository: demo/hang
      rules: [{branch: main, tag: latest}]
notifications:
  endpoints:
    - {name: sink, url: "http://127.0.0.1:$SINKPORT/events", timeout: 2s}
  queue: {directory: $TMP/events}
EOF
mkdir -p "$TMP/run"
chmod 755 "$TMP" "$TMP/run"
CONFIG=$TMP/config.yml WHARF_RUNDIR=$TMP/run WHARF_WORKERS=2 \
	ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
	setsid "$REPO/admin/run.sh" >"$TMP/run.log" 2>&1 </dev/null &
RUN_PID=$!
track_pid "$RUN_PID"
at_exit "kill -TERM -$RUN_PID 2>/dev/null; sleep 1"
for ((i = 0; i < 150; i++)); do
	grep -q 'Ctrl-C to stop' "$TMP/run.log" 2>/dev/null && break
	kill -0 "$RUN_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "Wharf is serving http://127.0.0.1:$PORT" "$TMP/run.log"; then
	t_fail "make run CONFIG= with a builds section serves" "$(tail -n 20 "$TMP/run.log")"
	e2e_done
	exit
fi
t_ok "make run CONFIG= with a builds section serves"
check "make run prints each source's webhook URL" grep -q "Build webhook of source app: http://127.0.0.1:$PORT/_wharf/hooks/app" "$TMP/run.log"
U=http://127.0.0.1:$PORT
ADM=(-u admin:admin-Pw1)

# hook SOURCE SECRET BODY HEADERS...: POST a GitHub-style signed webhook;
# prints the status code, the body in $TMP/hook.out
hook() {
	local src=$1 secret=$2 body=$3 sig
	shift 3
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
	curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "X-Hub-Signature-256: sha256=$sig" "$@" --data-binary "$body" "$U/_wharf/hooks/$src"
}
nbuilds() { curl -s "${ADM[@]}" "$U/_wharf/api/builds?n=500" | jq '.builds | length'; }
# wait_build ID: until the build is finished (3 minutes at most); prints its status
wait_build() {
	local st i
	for ((i = 0; i < 900; i++)); do
		st=$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$1" | jq -r .status)
		case $st in succeeded | failed | cancelled) break ;; esac
		sleep 0.2
	done
	echo "$st"
}
P=(podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs
	--events-backend file --cgroup-manager cgroupfs)
# run_image REF: pull it and run it (runc: crun cannot here), its output
run_image() {
	"${P[@]}" pull -q --tls-verify=false --creds admin:admin-Pw1 "$1" >/dev/null 2>>"$TMP/podman.log" &&
		"${P[@]}" run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
			"$1" 2>>"$TMP/podman.log"
}

# ---- refusals: nothing is built ---------------------------------------------
PUSH1=$(jq -cn --arg a "$BASE1" '{ref: "refs/heads/main", before: "0000000000000000000000000000000000000000", after: $a, repository: {full_name: "example/base"}}')
check_eq "a bad signature is refused (401)" 401 \
	"$(hook base "not-the-secret" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-0')"
check_eq "  with the spec's error JSON" UNAUTHORIZED "$(jq -r '.errors[0].code' "$TMP/hook.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-00' \
	--data-binary "$PUSH1" "$U/_wharf/hooks/base")
check_eq "no signature is refused (401)" 401 "$code"
check_eq "the other source's secret is refused (401)" 401 \
	"$(hook base "$SECRET_APP" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-01')"
check_eq "an unknown source is 404" 404 \
	"$(hook nosuch "$SECRET_BASE" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-02')"
check_eq "a GET of a hook is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$U/_wharf/hooks/base")"
check_eq "the refused webhooks built nothing" 0 "$(nbuilds)"
check_eq "the builds API needs credentials (401)" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$U/_wharf/api/builds")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-form' \
	-H "X-Hub-Signature-256: sha256=$(printf '%s' "$PUSH1" | openssl dgst -sha256 -hmac "$SECRET_BASE" -r | cut -d' ' -f1)" \
	--data-binary "$PUSH1" "$U/_wharf/hooks/base")
check_eq "a signed push sent form-encoded is refused with a hint (415)" 415 "$code"
check_eq "a ping is answered" 200 \
	"$(hook base "$SECRET_BASE" '{"zen":"hi"}' -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: d-ping')"

# ---- a signed GitHub push builds the first source ---------------------------
check_eq "a signed push webhook queues a build (202)" 202 \
	"$(hook base "$SECRET_BASE" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-1')"
B1=$(jq -r '.builds[0]' "$TMP/hook.out")
check_eq "the same delivery again is refused as a replay (409)" 409 \
	"$(hook base "$SECRET_BASE" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-1')"
check_eq "the same commit under a new delivery id is refused too (409)" 409 \
	"$(hook base "$SECRET_BASE" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-1-forged')"
check_eq "a push to a branch no rule names builds nothing (200)" 200 \
	"$(hook base "$SECRET_BASE" "${PUSH1/refs\/heads\/main/refs/heads/dev}" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-dev')"
check_eq "build of base 1 succeeded" succeeded "$(wait_build "$B1")"
check_eq "one build only" 1 "$(nbuilds)"
st=$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$B1")
check_eq "its state: source, ref, tags, revision, trigger" "base refs/heads/main latest $BASE1 github" \
	"$(jq -r '"\(.source) \(.ref) \(.tags|join(",")) \(.revision) \(.trigger)"' <<<"$st")"
check "its log shows the buildah build" grep -q 'buildah bud --isolation chroot' \
	<(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$B1/log")
inspect=$(skopeo inspect --tls-verify=false --creds admin:admin-Pw1 "docker://127.0.0.1:$PORT/demo/base:latest")
check_eq "the image is under the rule's tag with its revision label" "$BASE1" \
	"$(jq -r '.Labels["org.opencontainers.image.revision"]' <<<"$inspect")"
check_eq "  and its source label" "file://$G/base.git" \
	"$(jq -r '.Labels["org.opencontainers.image.source"]' <<<"$inspect")"
check_eq "  and the build argument" "from-config" "$(jq -r '.Labels.greeting' <<<"$inspect")"
check_eq "  the digest in the state is the tag's" "$(jq -r .Digest <<<"$inspect")" "$(jq -r .digest <<<"$st")"
check_eq "the image runs (podman) with the committed content" "base v1" "$(run_image "127.0.0.1:$PORT/demo/base:latest")"

# ---- build now through the JSON API (the second source) ---------------------
code=$(curl -s -o /dev/null -w '%{http_code}' "${ADM[@]}" -X POST -H 'Content-Type: application/json' \
	--data '{"source":"app"}' "$U/_wharf/api/builds")
check_eq "build now without the CSRF token is refused (403)" 403 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -u builder:wrong -X POST --data '{"source":"app"}' "$U/_wharf/api/builds")
check_eq "build now with a wrong password is refused (401)" 401 "$code"
csrf=$(curl -s "${ADM[@]}" "$U/_wharf/api/whoami" | jq -r .csrf)
code=$(curl -s -o /dev/null -w '%{http_code}' "${ADM[@]}" -X POST -H "X-Wharf-CSRF: $csrf" \
	-H 'Origin: http://evil.example' --data '{"source":"app"}' "$U/_wharf/api/builds")
check_eq "build now from another site is refused (403)" 403 "$code"
out=$(curl -s -w '\n%{http_code}' "${ADM[@]}" -X POST -H "X-Wharf-CSRF: $csrf" \
	--data '{"source":"app"}' "$U/_wharf/api/builds")
check_eq "build now with the token queues (202)" 202 "$(tail -n1 <<<"$out")"
A1=$(head -n1 <<<"$out" | jq -r .id)
check_eq "build of app 1 succeeded" succeeded "$(wait_build "$A1")"
check_eq "  its trigger says by whom" "manual by admin" "$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$A1" | jq -r .trigger)"
check_eq "app runs with base 1 under it" "base v1
app on top" "$(run_image "127.0.0.1:$PORT/demo/app:edge")"

# ---- a new commit of base (Gitea, a tag) rebuilds base, then app -----------
cd "$G/work-base" && printf 'base v2\n' >message.txt && git commit -qam v2 && git tag v2.0 &&
	git push -q "$G/base.git" main v2.0 && cd "$TMP"
BASE2=$(git -C "$G/base.git" rev-parse main)
n0=$(nbuilds)
PUSH2=$(jq -cn --arg a "$BASE2" '{ref: "refs/tags/v2.0", after: $a}')
sig=$(printf '%s' "$PUSH2" | openssl dgst -sha256 -hmac "$SECRET_BASE" -r | cut -d' ' -f1)
code=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-Gitea-Event: push' \
	-H 'X-Gitea-Delivery: g-1' -H "X-Gitea-Signature: $sig" --data-binary "$PUSH2" "$U/_wharf/hooks/base")
check_eq "a signed Gitea tag push queues a build (202)" 202 "$code"
B2=$(jq -r '.builds[0]' "$TMP/hook.out")
check_eq "build of base v2.0 succeeded" succeeded "$(wait_build "$B2")"
check_eq "  under the tag rule's template (2.0)" "2.0" "$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$B2" | jq -r '.tags|join(",")')"
# base:latest moves with a GitLab push of main (its token, not a signature)
PUSH3=$(jq -cn --arg a "$BASE2" '{object_kind: "push", ref: "refs/heads/main", after: $a, checkout_sha: $a}')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-Gitlab-Event: Push Hook' \
	-H "X-Gitlab-Token: wrong-token-wrong-token" --data-binary "$PUSH3" "$U/_wharf/hooks/base")
check_eq "a wrong GitLab token is refused (401)" 401 "$code"
code=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-Gitlab-Event: Push Hook' \
	-H "X-Gitlab-Token: $SECRET_BASE" --data-binary "$PUSH3" "$U/_wharf/hooks/base")
check_eq "a GitLab push with the token queues a build (202)" 202 "$code"
B3=$(jq -r '.builds[0]' "$TMP/hook.out")
check_eq "build of base main at v2 succeeded" succeeded "$(wait_build "$B3")"
# the chained build of app appears once base:latest is pushed
A2=
for ((i = 0; i < 100; i++)); do
	A2=$(curl -s "${ADM[@]}" "$U/_wharf/api/builds?source=app" | jq -r '[.builds[] | select(.trigger | startswith("chain: demo/base:latest"))][0].id // empty')
	[ -n "$A2" ] && break
	sleep 0.2
done
check "app is queued by the push of its FROM image" test -n "$A2"
check_eq "chained build of app succeeded" succeeded "$(wait_build "$A2")"
check_eq "  its chain names base" '["base"]' "$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$A2" | jq -c .chain)"
check_eq "app runs with base 2 under it" "base v2
app on top" "$(run_image "127.0.0.1:$PORT/demo/app:edge")"
sleep 1
check_eq "app was rebuilt once (base:2.0 is no FROM of it; one build per push)" 1 \
	"$(curl -s "${ADM[@]}" "$U/_wharf/api/builds?source=app" | jq '[.builds[] | select(.trigger | startswith("chain:"))] | length')"
check_eq "builds so far: 2 of base after n0, 1 chained" $((n0 + 3)) "$(nbuilds)"

# ---- Bitbucket payloads, cancel, cleanup ------------------------------------
cd "$G/work-base" && printf 'base v3\n' >message.txt && git commit -qam v3 && git push -q "$G/base.git" main && cd "$TMP"
BASE3=$(git -C "$G/base.git" rev-parse main)
BB=$(jq -cn --arg a "$BASE3" '{push: {changes: [{new: {type: "branch", name: "main", target: {hash: $a}}, old: null}]}}')
sig=$(printf '%s' "$BB" | openssl dgst -sha256 -hmac "$SECRET_BASE" -r | cut -d' ' -f1)
code=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-Event-Key: repo:push' \
	-H 'X-Request-UUID: bb-1' -H "X-Hub-Signature: sha256=$sig" --data-binary "$BB" "$U/_wharf/hooks/base")
check_eq "a signed Bitbucket Cloud push queues a build (202)" 202 "$code"
B4=$(jq -r '.builds[0]' "$TMP/hook.out")
code=$(curl -s -o /dev/null -w '%{http_code}' "${ADM[@]}" -X POST -H "X-Wharf-CSRF: $csrf" "$U/_wharf/api/builds/$B4/cancel")
check_eq "cancel of a queued or running build is accepted (202)" 202 "$code"
check_eq "the cancelled build ends cancelled" cancelled "$(wait_build "$B4")"
BBS=$(jq -cn --arg a "$BASE3" '{eventKey: "repo:refs_changed", changes: [{ref: {id: "refs/heads/main", displayId: "main", type: "BRANCH"}, fromHash: "x", toHash: $a, type: "UPDATE"}]}')
sig=$(printf '%s' "$BBS" | openssl dgst -sha256 -hmac "$SECRET_BASE" -r | cut -d' ' -f1)
code=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-Event-Key: repo:refs_changed' \
	-H 'X-Request-Id: bbs-1' -H "X-Hub-Signature: sha256=$sig" --data-binary "$BBS" "$U/_wharf/hooks/base")
check_eq "a Bitbucket Server push of the same commit is refused as a replay (409)" 409 "$code"
# a webhook whose build cannot be queued (500) may be delivered again
cd "$G/work-base" && printf 'base v4\n' >message.txt && git commit -qam v4 && git push -q "$G/base.git" main && cd "$TMP"
PUSH4=$(jq -cn --arg a "$(git -C "$G/base.git" rev-parse main)" '{ref: "refs/heads/main", after: $a}')
mv "$TMP/builds/builds" "$TMP/builds/builds.away" && : >"$TMP/builds/builds"
check_eq "a webhook whose build cannot be queued gets 500" 500 \
	"$(hook base "$SECRET_BASE" "$PUSH4" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-4')"
rm -f "$TMP/builds/builds" && mv "$TMP/builds/builds.away" "$TMP/builds/builds"
check_eq "  its redelivery (same id) is queued then (202)" 202 \
	"$(hook base "$SECRET_BASE" "$PUSH4" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-4')"
check_eq "  and built" succeeded "$(wait_build "$(jq -r '.builds[0]' "$TMP/hook.out")")"
# (and app once more, chained: wait until nothing is queued or running)
active() { curl -s "${ADM[@]}" "$U/_wharf/api/builds" | jq '[.builds[] | select(.status == "queued" or .status == "running")] | length'; }
for ((i = 0; i < 150; i++)); do [ "$(active)" = 0 ] && break; sleep 0.2; done
sleep 0.5
check "the builds' temporary directories are gone" test -z "$(ls -A "$TMP/builds/tmp")"
check_eq "no build is left queued or running" 0 "$(active)"
check_eq "each push of base:latest after app's first build rebuilt app once (2)" "succeeded succeeded" \
	"$(curl -s "${ADM[@]}" "$U/_wharf/api/builds?source=app" | jq -r '[.builds[] | select(.trigger | startswith("chain:")) | .status] | join(" ")')"

# ---- the web UI's builds pages (headless Chromium) --------------------------
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
PWC=${WHARF_TOOLS:-${HOME:-/root}/.cache/wharf}/playwright/node_modules/playwright-core
if [ -n "$CHROMIUM" ] && [ -d "$PWC" ] && command -v node >/dev/null; then
	mkdir -p "$TMP/shots"
	out=$(cd "$E2E_DIR" && CHROMIUM=$CHROMIUM PW=$PWC timeout 120 node builds_browser.mjs "$U" admin admin-Pw1 "$TMP/shots" 2>"$TMP/browser.err")
	while IFS= read -r line; do
		case $line in
		"ok - "*) t_ok "${line#ok - }" ;;
		"not ok - "*) t_fail "${line#not ok - }" ;;
		esac
	done <<<"$out"
	grep -q '^ok - ui: no console errors' <<<"$out" || t_fail "ui: the browser run finished" "$(tail -n 5 "$TMP/browser.err")"
else
	t_skip "ui: the builds pages" "chromium or playwright-core missing (make deps-test installs them)"
fi

# ---- a commit behind its ref's head is fetched by itself ---------------------
out=$(curl -s "${ADM[@]}" -X POST -H "X-Wharf-CSRF: $csrf" \
	--data "{\"source\":\"base\",\"tag\":\"v2.0\",\"commit\":\"$BASE1\"}" "$U/_wharf/api/builds")
C1=$(jq -r .id <<<"$out")
check_eq "build now of an older commit succeeded" succeeded "$(wait_build "$C1")"
check_eq "  it built that commit, not the ref's head" "$BASE1" \
	"$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$C1" | jq -r .revision)"
check_eq "  and the image has its content" "base v1" "$(run_image "127.0.0.1:$PORT/demo/base:2.0")"

# ---- build events through the notifications -------------------------------
for ((i = 0; i < 50; i++)); do
	grep -q "$A2" "$TMP/events.jsonl" 2>/dev/null && break
	sleep 0.2
done
ev=$(jq -c '.body | fromjson | .events[0] | select(.action == "build")' "$TMP/events.jsonl" 2>/dev/null)
check_eq "build events reach the notifications endpoint (started, succeeded of base 1)" "running succeeded" \
	"$(jq -r --arg id "$B1" 'select(.build.id == $id) | .build.status' <<<"$ev" | xargs)"
check_eq "  the event's target: the repository, tag and digest pushed" "demo/base latest $(jq -r .digest <<<"$st")" \
	"$(jq -r --arg id "$B1" 'select(.build.id == $id and .build.status == "succeeded") | "\(.target.repository) \(.target.tag) \(.target.digest)"' <<<"$ev")"
check_eq "  the chained build's event names its trigger" "chain: demo/base:latest" \
	"$(jq -r --arg id "$A2" 'select(.build.id == $id and .build.status == "succeeded") | .build.trigger' <<<"$ev" | cut -d@ -f1)"

# ---- kill -9 of the builder, then of the master: no build left running -------
master=$(cat "$TMP/run/wharf.pid")
out=$(curl -s "${ADM[@]}" -X POST -H "X-Wharf-CSRF: $csrf" --data '{"source":"hang"}' "$U/_wharf/api/builds")
H=$(jq -r .id <<<"$out")
# hang_git: the pid of the build's git fetch (hanging on HANGPORT), or nothing
hang_git() { pgrep -f -- "git fetch .*127.0.0.1:$HANGPORT/" | head -n1; }
# builder_of PID: the ancestor of PID whose parent is the master
builder_of() {
	local p=$1 pp
	while [ -n "$p" ] && [ "$p" != 1 ]; do
		pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
		[ "$pp" = "$master" ] && { echo "$p"; return; }
		p=$pp
	done
}
g1=
for ((i = 0; i < 100; i++)); do g1=$(hang_git) && [ -n "$g1" ] && break; sleep 0.1; done
check_eq "a hanging build is running" running "$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$H" | jq -r .status)"
bpid=$(builder_of "$g1")
check "the build runs under the builder service, a child of the master" test -n "$bpid"
kill -9 "$bpid"
for ((i = 0; i < 50; i++)); do [ -d "/proc/$g1" ] || break; sleep 0.1; done
check "kill -9 of the builder: its build's git dies with it" test ! -d "/proc/$g1"
g2=
for ((i = 0; i < 100; i++)); do g2=$(hang_git) && [ -n "$g2" ] && [ "$g2" != "$g1" ] && break; sleep 0.1; done
check "the restarted builder runs the interrupted build again" test -n "$g2" -a "$g2" != "$g1"
check_eq "  its state: running, second attempt" "running 2" \
	"$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$H" | jq -r '"\(.status) \(.attempts)"')"
kill -9 "$master"
for ((i = 0; i < 50; i++)); do [ -z "$(hang_git)" ] && break; sleep 0.1; done
check "kill -9 of the master: no build process is left" test -z "$(hang_git)"
for ((i = 0; i < 50; i++)); do
	[ "$(jq -r .status "$TMP/builds/builds/$H/build.json")" = queued ] && break
	sleep 0.1
done
check_eq "  and the build is back in the queue, not marked running" queued \
	"$(jq -r .status "$TMP/builds/builds/$H/build.json")"
wait "$RUN_PID"
check "the tmp dir of the killed build is gone" test -z "$(ls -A "$TMP/builds/tmp")"

# ---- a new start takes the queued build up again; builds.timeout ends it -----
# (behind Apache when it is installed: its ProxyPass for /_wharf/hooks/)
front=nginx
command -v apache2 >/dev/null 2>&1 && [ -e /usr/lib/apache2/modules/mod_xsendfile.so ] && front=apache
FRONT=$front REGISTRY_BUILDS_TIMEOUT=2s CONFIG=$TMP/config.yml WHARF_RUNDIR=$TMP/run WHARF_WORKERS=2 \
	ASAN_OPTIONS=${WHARF_E2E_ASAN_OPTIONS:-detect_leaks=0} \
	setsid "$REPO/admin/run.sh" >"$TMP/run2.log" 2>&1 </dev/null &
RUN_PID=$!
track_pid "$RUN_PID"
for ((i = 0; i < 150; i++)); do
	grep -q 'Ctrl-C to stop' "$TMP/run2.log" 2>/dev/null && break
	sleep 0.1
done
for ((i = 0; i < 100; i++)); do
	case $(jq -r .status "$TMP/builds/builds/$H/build.json") in failed | succeeded | cancelled) break ;; esac
	sleep 0.1
done
check_eq "after a restart the build ran again and builds.timeout (2s) failed it" "failed timed out (builds.timeout) 3" \
	"$(curl -s "${ADM[@]}" "$U/_wharf/api/builds/$H" | jq -r '"\(.status) \(.reason) \(.attempts)"')"
check "  its git is gone" test -z "$(hang_git)"
check_eq "$front: a signed ping reaches the webhook" 200 \
	"$(hook base "$SECRET_BASE" '{"zen":"again"}' -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: d-ping2')"
check_eq "$front: a bad signature is refused (401)" 401 \
	"$(hook base "$SECRET_APP" "$PUSH1" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-x')"
check_eq "$front: the builds API answers" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "${ADM[@]}" "$U/_wharf/api/builds/$H/log")"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "make run stops with status 0" 0 "$?"
e2e_done
