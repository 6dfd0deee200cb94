# proxy_lib.sh — helpers for t_proxy_*.sh (source after lib.sh and e2e_init).
# shellcheck shell=bash

# up_start NAME [PORT]: a reference registry as an upstream, its access log on
# (to count requests) in $TMP/up-NAME/registry.log, storage $TMP/up-NAME/root.
# REGISTRY_* variables set by the caller (auth) apply. Same NAME and PORT:
# a restart on the same data. Sets UP_HOST[NAME], UP_PID[NAME].
declare -A UP_HOST UP_PID
up_start() {
	local name=$1 port=${2:-} dir=$TMP/up-$1
	mkdir -p "$dir/root"
	[ -n "$port" ] || port=$(free_port) || return 1
	cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/root
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: upstream-$name-secret
YML
	env -u AWS_CA_BUNDLE docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
	UP_PID[$name]=$!
	track_pid "${UP_PID[$name]}"
	UP_HOST[$name]=127.0.0.1:$port
	wait_http "http://127.0.0.1:$port/v2/" "${UP_PID[$name]}" 20 || {
		diag "upstream $name did not start:" "$(tail -n 20 "$dir/registry.log")"
		return 1
	}
}
up_stop() { stop_pid "${UP_PID[$1]}" 10; }

# up_htpasswd_env FILE USER PASS: bcrypt file + the env for auth.htpasswd
up_htpasswd_env() {
	htpasswd -Bbc "$1" "$2" "$3" >/dev/null 2>&1 || return 1
	export REGISTRY_AUTH=htpasswd REGISTRY_AUTH_HTPASSWD_REALM=upstream \
		REGISTRY_AUTH_HTPASSWD_PATH=$1
}

# up_count NAME REGEX: access-log lines of upstream NAME matching REGEX
up_count() { grep -cE "$2" "$TMP/up-$1/registry.log"; }

# blob_get URL OUT: GET a blob; exit status of curl (fails on HTTP errors and short bodies)
blob_get() { curl -sS -f -o "$2" "$1"; }

# not CMD...: succeeds when CMD fails
not() { ! "$@"; }
