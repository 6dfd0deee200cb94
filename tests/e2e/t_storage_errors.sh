#!/usr/bin/env bash
# A storage backend that fails is the server's error, never the client's and
# never a bare 500 (issue 11):
# - the filesystem root is a real tmpfs that fills up: a chunk that does not
#   fit answers 507 with the spec's error body and Retry-After (not 400
#   BLOB_UPLOAD_INVALID, which clients take for their own fault and do not
#   retry), the worker logs it once with the free space, nothing partial
#   becomes visible, pulls go on, and once space is freed the same upload
#   completes — with bodies streamed through the worker and with bodies
#   received by nginx into files (its failure to write one goes back to
#   Wharf: the same 507, or 503 for another cause; Wharf's own 500 untouched);
# - S3 that cannot be reached (a dead port) answers 503 UNAVAILABLE with
#   Retry-After, not 500.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/api_lib.sh"
e2e_init

if ! why=$(need_cmd curl jq nginx); then
	t_skip "storage errors" "$why"
	exit 0
fi
if [ "$E2E_TARGET" = reference ]; then
	t_skip "storage errors" "Wharf's storage error mapping"
	exit 0
fi

# spec_error STATUS: the last reply has STATUS, a spec error body (errors[]
# with code and message) and a Retry-After of whole seconds
spec_error() {
	[ "$ST" = "$1" ] || { echo "status $ST, want $1: $(head -c 300 "$BODY")"; return 1; }
	jq -e '.errors | length >= 1 and (.[0].code | type == "string") and (.[0].message | type == "string")' \
		"$BODY" >/dev/null || { echo "not a spec error body: $(head -c 300 "$BODY")"; return 1; }
	[[ "$(hdr Retry-After)" =~ ^[0-9]+$ ]] || { echo "no Retry-After: $(cat "$HDRS")"; return 1; }
}

# ---- a full filesystem ----
# full_disk MODE: the tmpfs part with uploads streamed through the worker
# (MODE false: Wharf is the one that meets the full disk) or received by nginx
# into body files (true: nginx meets it first, writing the body, and its own
# 500 goes to Wharf through the snippet's @wharf_body_failed; the client must
# see no difference). Each mode has its own root on the same tmpfs.
full_disk() {
	local mode=$1 what
	what=$([ "$mode" = true ] && echo "body files" || echo "streamed")
	WHARF_E2E_BODYFILES=$mode WHARF_E2E_WORKERS=1 wharf_start "$FULL/root-$mode" ||
		{ t_fail "registry on a tmpfs root starts ($what)"; return 1; }
	U=$W_URL
	local bodydir=$W_ROOT/wharf/body

	mk_image full/a a
	put_manifest full/a v1 "$TMP/a.json" "$OCI_MANIFEST"
	check_eq "$what: an image pushed while there is space" 201 "$ST"

	# fill the filesystem but 1 MiB with a file outside the registry's tree
	head -c $((2 * 1024 * 1024)) /dev/urandom >"$TMP/big"
	big=$(sha "$TMP/big")
	avail=$(df -B1 --output=avail "$FULL" | tail -n 1 | tr -d ' ')
	fallocate -l $((avail - 1024 * 1024)) "$FULL/ballast" 2>/dev/null ||
		head -c $((avail - 1024 * 1024)) /dev/zero >"$FULL/ballast" 2>/dev/null
	diag "free on the tmpfs: $(df -B1 --output=avail "$FULL" | tail -n 1 | tr -d ' ') bytes"

	req POST "$U/v2/full/b/blobs/uploads/"
	check_eq "$what: upload started on the nearly full root" 202 "$ST"
	loc=$(hdr Location)
	case $loc in /*) loc=$U$loc ;; esac
	req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/big"
	check "$what: a chunk that does not fit: 507, spec error body, Retry-After" spec_error 507
	check_eq "$what: ... its code is UNAVAILABLE, not BLOB_UPLOAD_INVALID" UNAVAILABLE "$(errcode)"
	req POST "$U/v2/full/b/blobs/uploads/?digest=$big" -H 'Content-Type: application/octet-stream' \
		--data-binary @"$TMP/big"
	check "$what: a monolithic upload that does not fit: 507 with Retry-After" spec_error 507
	# a manifest of 1.5 MiB: more than the space left (with body files the
	# failed uploads leave none of their bytes behind)
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":{"x":"%s"}}' \
		"$OCI_MANIFEST" "$(desc $OCI_CONFIG "$TMP/a.cfg")" "$(head -c $((768 * 1024)) /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		>"$TMP/m2.json"
	put_manifest full/a v2 "$TMP/m2.json" "$OCI_MANIFEST"
	check "$what: a manifest that does not fit: 507 with Retry-After" spec_error 507

	local n line
	if [ "$mode" = true ]; then
		# the uploads are logged by the handler (the body directory's free
		# space); the driver logs its own failures (the monolithic upload's
		# start, while nginx's partial file still fills the disk; the
		# manifest, which nginx does not put on the tmpfs) once
		n=$(grep -c 'web server could not store a request body' "$W_DIR/wharf.log")
		check_eq "$what: the body nginx could not store logged once" 1 "$n"
		line=$(grep -m1 'web server could not store a request body' "$W_DIR/wharf.log")
		[[ "$line" =~ no\ space\ left\ in\ .*\ [0-9]+\ bytes\ free ]]
		t_result "$what: ... the log line gives the free space" $? "$line"
		n=$(grep -c 'no space left writing' "$W_DIR/wharf.log")
		check_eq "$what: the driver's full filesystem logged once" 1 "$n"
		[ -z "$(ls -A "$bodydir")" ]
		t_result "$what: no body file left behind" $? "$(ls -l "$bodydir")"
	else
		n=$(grep -c 'no space left writing' "$W_DIR/wharf.log")
		check_eq "$what: the full filesystem logged once (3 failed requests)" 1 "$n"
		line=$(grep -m1 'no space left writing' "$W_DIR/wharf.log")
		[[ "$line" =~ [0-9]+\ bytes\ free ]]
		t_result "$what: the log line gives the free space" $? "$line"
	fi

	req HEAD "$U/v2/full/b/blobs/$big"
	check_eq "$what: no partial blob visible in the repository" 404 "$ST"
	[ ! -e "$(store_blob_path "$W_ROOT" "$big")" ]
	t_result "$what: no blob data stored for the failed upload" $?
	curl -sf -o "$TMP/got" "$U/v2/full/a/blobs/$(sha "$TMP/a.layer")" && cmp -s "$TMP/got" "$TMP/a.layer"
	t_result "$what: pulls go on: a stored blob, byte-identical" $?
	curl -sf -H "Accept: $OCI_MANIFEST" -o "$TMP/got" "$U/v2/full/a/manifests/v1" && cmp -s "$TMP/got" "$TMP/a.json"
	t_result "$what: pulls go on: a stored manifest, byte-identical" $?

	rm -f "$FULL/ballast"
	req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/big"
	check_eq "$what: space freed: the same upload takes the chunk again" 202 "$ST"
	loc=$(hdr Location)
	case $loc in /*) loc=$U$loc ;; esac
	sep='?'
	case $loc in *\?*) sep='&' ;; esac
	req PUT "$loc${sep}digest=$big"
	check_eq "$what: ... and completes" 201 "$ST"
	curl -sf -o "$TMP/got" "$U/v2/full/b/blobs/$big" && cmp -s "$TMP/got" "$TMP/big"
	t_result "$what: ... the blob byte-identical" $?
	put_manifest full/a v2 "$TMP/m2.json" "$OCI_MANIFEST"
	check_eq "$what: ... and the manifest push succeeds" 201 "$ST"

	# an upload whose data went away meanwhile (purged, cancelled by another
	# request) is unknown to the registry: 404, not a 500
	req POST "$U/v2/full/c/blobs/uploads/"
	loc=$(hdr Location)
	case $loc in /*) loc=$U$loc ;; esac
	uuid=$(hdr Docker-Upload-UUID)
	req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.cfg"
	loc=$(hdr Location)
	case $loc in /*) loc=$U$loc ;; esac
	rm -f "$W_ROOT/docker/registry/v2/repositories/full/c/_uploads/$uuid/data"
	sep='?'
	case $loc in *\?*) sep='&' ;; esac
	req PUT "$loc${sep}digest=$(sha "$TMP/a.cfg")"
	check_eq "$what: closing an upload whose data is gone: 404 BLOB_UPLOAD_UNKNOWN" "404 BLOB_UPLOAD_UNKNOWN" "$ST $(errcode)"

	if [ "$mode" = true ]; then
		# nginx cannot create its body file for another reason (its workers,
		# nobody, may not write the directory): 503 with Retry-After, not
		# 507, and a log line saying the web server could not store the body
		req POST "$U/v2/full/d/blobs/uploads/"
		loc=$(hdr Location)
		case $loc in /*) loc=$U$loc ;; esac
		chmod 000 "$bodydir"
		req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.cfg"
		chmod 700 "$bodydir"
		check "$what: a body nginx cannot write, disk not full: 503, spec body, Retry-After" spec_error 503
		grep -q "web server could not store a request body of $(fsize "$TMP/a.cfg") bytes in .*not a full disk" "$W_DIR/wharf.log"
		t_result "$what: ... logged as the web server's failure" $? "$(tail -n 3 "$W_DIR/wharf.log")"
		req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.cfg"
		check_eq "$what: ... and the same upload takes it once nginx can write" 202 "$ST"

		# Wharf's own 500 in the upload location is passed as it is (nginx
		# intercepts only its own): nginx given another body directory than
		# Wharf's, whose files Wharf refuses
		nginx_render "$W_DIR" "$W_HOST" "$W_SOCK" "$W_ROOT" "$W_ROOT/wharf/elsewhere" &&
			kill -HUP "$W_NGINX_PID"
		req POST "$U/v2/full/e/blobs/uploads/"
		loc=$(hdr Location)
		case $loc in /*) loc=$U$loc ;; esac
		local i
		for ((i = 0; i < 50; i++)); do
			req PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.cfg"
			[ "$ST" = 202 ] || break
			# the reload not in force yet: a new upload for the next try
			req POST "$U/v2/full/e/blobs/uploads/"
			loc=$(hdr Location)
			case $loc in /*) loc=$U$loc ;; esac
			sleep 0.2
		done
		check_eq "$what: Wharf's own 500 passes the upload location untouched (its JSON)" \
			"500 UNKNOWN" "$ST $(errcode)"
		grep -q 'body file .* refused' "$W_DIR/wharf.log"
		t_result "$what: ... the refusal logged by Wharf" $? "$(tail -n 3 "$W_DIR/wharf.log")"
	fi
	wharf_stop
}

FULL=$TMP/full
mkdir -p "$FULL"
if [ "$(id -u)" != 0 ]; then
	t_skip "full storage root" "mounting a tmpfs needs root"
elif ! mount -t tmpfs -o size=16m,mode=0755 tmpfs "$FULL" 2>"$TMP/mount.err"; then
	t_skip "full storage root" "mount -t tmpfs refused: $(head -n 1 "$TMP/mount.err")"
else
	# unmounted by e2e_cleanup (everything mounted under $TMP), after the
	# roots have been kept for t_zz_reference_gc.sh
	full_disk false
	full_disk true
fi

# ---- S3 out of reach ----
dead=$(free_port)
SD=$TMP/s3dead
mkdir -p "$SD"
chmod 755 "$SD"
cat >"$SD/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  s3:
    region: us-east-1
    regionendpoint: http://127.0.0.1:$dead
    bucket: nowhere
    rootdirectory: /e2e
    secure: false
    v4auth: true
  delete:
    enabled: true
http:
  secret: e2e-s3-dead
fastcgi:
  listen: unix:$SD/wharf.sock
  workers: 1
  blobs:
    accel: none
  pidfile: $SD/wharf.pid
EOF
AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s "$WHARF_BIN" serve -c "$SD/config.yml" \
	>"$SD/wharf.log" 2>&1 </dev/null &
SPID=$!
track_pid "$SPID"
for _ in $(seq 100); do [ -S "$SD/wharf.sock" ] && break; sleep 0.1; done
port=$(free_port)
if nginx_render "$SD" "127.0.0.1:$port" "$SD/wharf.sock" "$SD" "" && nginx_start "$SD" &&
	wait_http "http://127.0.0.1:$port/v2/" "$NGINX_PID" 20; then
	U=http://127.0.0.1:$port
	t_ok "wharf on an S3 endpoint nobody listens on starts"
	req HEAD "$U/v2/s3/a/blobs/sha256:$(printf '%064d' 0)"
	check_eq "HEAD blob, S3 unreachable: 503" 503 "$ST"
	req GET "$U/v2/s3/a/manifests/v1"
	check "GET manifest, S3 unreachable: 503, spec body, Retry-After" spec_error 503
	check_eq "... its code is UNAVAILABLE" UNAVAILABLE "$(errcode)"
	req POST "$U/v2/s3/a/blobs/uploads/"
	check "start an upload, S3 unreachable: 503 with Retry-After" spec_error 503
	req GET "$U/v2/_catalog"
	check "catalog, S3 unreachable: 503 with Retry-After" spec_error 503
else
	t_fail "wharf on an S3 endpoint nobody listens on starts" "$(tail -n 20 "$SD/wharf.log")"
fi

e2e_done
