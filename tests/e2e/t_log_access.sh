#!/usr/bin/env bash
# The access log (issue 14): one line per request in the Combined Log Format
# on stdout, as the reference writes it (gorilla/handlers'
# CombinedLoggingHandler) — with the text and the json formatter alike (the
# formatter is for the log lines, not the access lines), the referer and user
# agent Go-quoted, the size the body Wharf sent — and none at all with
# log.accesslog.disabled: true. With formatter json every other line of the
# log is a JSON object with time, level and msg.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "access log" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "access log" "Wharf's log (the reference's is compared in tests/unit/test_log.c)"
	exit 0
fi

# gorilla's layout: host - user [02/Jan/2006:15:04:05 -0700] "METHOD URI PROTO" status size "referer" "ua"
CLF='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] '

# requests MARK: a 200 with a referer and a user agent holding quotes, and
# a 404 with a body; prints the 404's body size
requests() {
	local mark=$1
	curl -s -o /dev/null -A 'e2e "ua" \x' -e 'http://ref.example/' "$W_URL/v2/?m=$mark"
	curl -s -o /dev/null -w '%{size_download}' "$W_URL/v2/$mark/manifests/none"
}

# access_lines MARK: the access lines of the requests marked MARK
access_lines() { grep -E "$CLF\"GET /v2/(\?m=$1|$1/manifests/none) HTTP/1\.1\"" "$W_DIR/wharf.log"; }
# have_lines MARK N: N access lines of MARK are in the log
have_lines() { [ "$(access_lines "$1" | wc -l)" -ge "$2" ]; }

# check_access MARK SIZE404 WHAT: the two lines, exactly, once each
check_access() {
	local mark=$1 size=$2 what=$3 lines
	if ! wait_for 10 have_lines "$mark" 2; then
		t_fail "$what: an access line per request" "$(tail -n 20 "$W_DIR/wharf.log")"
		return
	fi
	lines=$(access_lines "$mark")
	check_eq "$what: one line per request" 2 "$(echo "$lines" | wc -l)"
	if echo "$lines" | grep -qxE "$CLF\"GET /v2/\?m=$mark HTTP/1\.1\" 200 2 \"http://ref\.example/\" \"e2e \\\\\"ua\\\\\" \\\\\\\\x\""; then
		t_ok "$what: a 200 in combined format (size, referer, quoted user agent)"
	else
		t_fail "$what: a 200 in combined format (size, referer, quoted user agent)" "$lines"
	fi
	if echo "$lines" | grep -qxE "$CLF\"GET /v2/$mark/manifests/none HTTP/1\.1\" 404 $size \"\" \"curl/[^\"]*\""; then
		t_ok "$what: a 404 with its body size, empty referer"
	else
		t_fail "$what: a 404 with its body size, empty referer" "size $size" "$lines"
	fi
}

# ---- text (the default formatter) ----
wharf_start || { t_fail "registry starts"; exit 1; }
size=$(requests t1)
check_access t1 "$size" "text"
# the log lines stay logrus text lines beside them
if grep -qE '^time="[0-9T:.-]+Z" level=info msg=' "$W_DIR/wharf.log"; then
	t_ok "text: log lines in logrus's text format"
else
	t_fail "text: log lines in logrus's text format" "$(head -n 5 "$W_DIR/wharf.log")"
fi
wharf_stop

# ---- json ----
export REGISTRY_LOG_FORMATTER=json REGISTRY_LOG_FIELDS_SERVICE=e2e-registry
wharf_start || { t_fail "registry starts (json)"; exit 1; }
unset REGISTRY_LOG_FORMATTER REGISTRY_LOG_FIELDS_SERVICE
size=$(requests j1)
check_access j1 "$size" "json"
# every line that is not an access line is a JSON object with the fields
others=$(grep -vE "$CLF" "$W_DIR/wharf.log")
if [ -n "$others" ] && echo "$others" | jq -es 'all(.[]; type == "object" and (.time | type == "string")
		and (.level | type == "string") and (.msg | type == "string") and .service == "e2e-registry")' >/dev/null; then
	t_ok "json: every other line is a JSON object with time, level, msg and log.fields"
else
	t_fail "json: every other line is a JSON object with time, level, msg and log.fields" \
		"$(echo "$others" | head -n 5)"
fi
wharf_stop

# ---- disabled ----
export REGISTRY_LOG_ACCESSLOG_DISABLED=true
wharf_start || { t_fail "registry starts (access log disabled)"; exit 1; }
unset REGISTRY_LOG_ACCESSLOG_DISABLED
requests d1 >/dev/null
# the request's own info line proves it was served (and logged) before we look
served() { grep -qE "GET /v2/d1/manifests/none\\\\?\" 404" "$W_DIR/wharf.log"; }
if wait_for 10 served; then
	if [ -z "$(access_lines d1)" ] && ! grep -qE "$CLF" "$W_DIR/wharf.log"; then
		t_ok "disabled: no access line"
	else
		t_fail "disabled: no access line" "$(grep -E "$CLF" "$W_DIR/wharf.log" | head -n 3)"
	fi
else
	t_fail "disabled: the requests were served and logged" "$(tail -n 10 "$W_DIR/wharf.log")"
fi
wharf_stop

e2e_done
