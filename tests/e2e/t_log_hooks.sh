#!/usr/bin/env bash
# log.hooks of type mail (issue 14): a line at a hook's levels is mailed
# through SMTP to a local sink (Debian's python3-aiosmtpd,
# fixtures/smtp_sink.py), the way the reference builds the mail (subject
# "[level] smtp-host: message", from, to, the entry's fields in the body),
# with the hook's credentials; lines at other levels are not, nor are those of
# a disabled hook; and the request that logged is never held by the mail: with
# an SMTP server that accepts and never answers, the failing request still
# answers at once.
#
# The error: a storage failure the filesystem driver cannot map (a tag's link
# file replaced by a unix socket: open() fails with ENXIO), which Wharf answers
# 503 and logs at level error.
source "$(dirname "$0")/lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "mail hook" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "mail hook" "Wharf's storage failure trick and queue"
	exit 0
fi
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
	t_skip "mail hook" "python3-aiosmtpd not installed (admin/deps.sh test)"
	exit 0
fi
SINK=$E2E_DIR/fixtures/smtp_sink.py

# sink_start PORT OUT [args]: the SMTP sink, waited for
sink_start() {
	local port=$1 out=$2
	shift 2
	/usr/bin/python3 "$SINK" "$port" "$out" "$@" >"$out.log" 2>&1 </dev/null &
	track_pid $!
	wait_for 10 grep -q '^ready' "$out.log" || { diag "sink: $(cat "$out.log")"; return 1; }
}

# break_tag REPO TAG: the tag's link becomes a unix socket (reads fail: ENXIO)
break_tag() {
	local d=$W_ROOT/docker/registry/v2/repositories/$1/_manifests/tags/$2/current
	mkdir -p "$d"
	rm -f "$d/link"
	# bound from inside the directory: the full path is longer than sun_path
	/usr/bin/python3 -c 'import os, socket, sys; os.chdir(sys.argv[1]); socket.socket(socket.AF_UNIX).bind("link")' "$d"
}

MAILS=$TMP/mails.jsonl
SPORT=$(free_port)
sink_start "$SPORT" "$MAILS" --auth hookuser:hook-secret || { t_fail "SMTP sink starts"; exit 1; }

hook() { # hook FROM LEVELS [extra]: one hook's YAML (flow style)
	echo "{type: mail, levels: [$2], $3 options: {smtp: {addr: '127.0.0.1:$SPORT', username: hookuser, password: hook-secret}, from: $1, to: [ops@wharf.test, dev@wharf.test]}}"
}
export REGISTRY_LOG_HOOKS="[$(hook registry@wharf.test error), $(hook off@wharf.test 'error, info' 'disabled: true,'), $(hook debug@wharf.test debug)]"
export REGISTRY_LOG_FIELDS_SERVICE=e2e-hooks
wharf_start || { t_fail "registry starts with log.hooks"; exit 1; }

# the configuration as `wharf config check` prints it: hooks, secret masked
out=$("$WHARF_BIN" config check -c "$W_DIR/config.yml" 2>&1)
if echo "$out" | grep -q '^  hooks:$' && echo "$out" | grep -q 'password: "\*\*\*\*\*"' &&
	! echo "$out" | grep -q hook-secret; then
	t_ok "config check prints log.hooks, the password masked"
else
	t_fail "config check prints log.hooks, the password masked" "$out"
fi
unset REGISTRY_LOG_HOOKS REGISTRY_LOG_FIELDS_SERVICE

# info lines (every request logs one), then the error
for i in 1 2 3; do curl -s -o /dev/null "$W_URL/v2/"; done
break_tag logs/app v1
st=$(curl -s -o "$TMP/body" -w '%{http_code}' "$W_URL/v2/logs/app/manifests/v1")
check_eq "a broken tag link answers 503" 503 "$st"
if grep -q 'level=error msg="GET /v2/logs/app/manifests/v1: storage error' "$W_DIR/wharf.log"; then
	t_ok "the failure is logged at level error"
else
	t_fail "the failure is logged at level error" "$(tail -n 5 "$W_DIR/wharf.log")"
fi

has_error_mail() { [ -s "$MAILS" ] && grep -q 'Subject: \[error\]' "$MAILS"; }
if wait_for 20 has_error_mail; then
	t_ok "the error line is mailed"
	m=$(jq -c 'select(.data | test("Subject: \\[error\\]"))' "$MAILS" | head -n 1)
	check_eq "envelope: from the hook's from" "registry@wharf.test" "$(echo "$m" | jq -r .from)"
	check_eq "envelope: to every address of to" "ops@wharf.test dev@wharf.test" \
		"$(echo "$m" | jq -r '.to | join(" ")')"
	check_eq "the hook's credentials were used (AUTH)" hookuser "$(echo "$m" | jq -r .user)"
	data=$(echo "$m" | jq -r .data | tr -d '\r')
	subject=$(echo "$data" | sed -n 's/^Subject: //p')
	case $subject in
	"[error] 127.0.0.1: GET /v2/logs/app/manifests/v1: storage error"*) t_ok "subject: [level] smtp-host: message" ;;
	*) t_fail "subject: [level] smtp-host: message" "$subject" ;;
	esac
	if echo "$data" | grep -qx 'service: e2e-hooks' && echo "$data" | grep -qx 'To: ops@wharf.test, dev@wharf.test'; then
		t_ok "headers and body: To, the message, log.fields"
	else
		t_fail "headers and body: To, the message, log.fields" "$data"
	fi
	# one sender, first in first out: an info or debug line mailed by mistake
	# would have arrived before the error's mail
	check_eq "levels respected: only error lines, only the enabled error hook" \
		"registry@wharf.test [error]" \
		"$(jq -r '.from + " " + (.data | capture("Subject: (?<l>\\[[a-z]+\\])").l)' "$MAILS" | sort -u | tr '\n' ' ' | sed 's/ $//')"
else
	t_fail "the error line is mailed" "mails: $(cat "$MAILS" 2>/dev/null)" "$(tail -n 10 "$W_DIR/wharf.log")"
fi
wharf_stop
rm -rf "$W_ROOT/docker/registry/v2/repositories" # only a broken tag: no root for t_zz_reference_gc

# ---- a hung SMTP server never holds the request ----
HPORT=$(free_port)
sink_start "$HPORT" "$TMP/hung" --stall || { t_fail "hung SMTP server starts"; exit 1; }
export REGISTRY_LOG_HOOKS="[{type: mail, levels: [error], options: {smtp: {addr: '127.0.0.1:$HPORT'}, from: r@wharf.test, to: [ops@wharf.test]}}]"
wharf_start || { t_fail "registry starts with a hung SMTP server"; exit 1; }
unset REGISTRY_LOG_HOOKS
break_tag logs/app v1
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$W_URL/v2/logs/app/manifests/v1")
for i in 1 2 3 4 5; do curl -s -o /dev/null "$W_URL/v2/logs/app/manifests/v1"; done
t2=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -m 10 "$W_URL/v2/logs/app/manifests/v1")
if awk -v a="$t" -v b="$t2" 'BEGIN { split(a, x, " "); split(b, y, " ");
		exit !(x[1] == 503 && y[1] == 503 && x[2] < 2 && y[2] < 2) }'; then
	t_ok "errors answered at once while the SMTP server hangs ($t, $t2)"
else
	t_fail "errors answered at once while the SMTP server hangs" "first: $t" "seventh: $t2"
fi
wharf_stop
rm -rf "$W_ROOT/docker/registry/v2/repositories" # only a broken tag: no root for t_zz_reference_gc

e2e_done
