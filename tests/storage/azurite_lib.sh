#!/usr/bin/env bash
# tests/storage/azurite_lib.sh — azurite (Microsoft's Azure Storage emulator,
# npm package `azurite`) serving the Blob API on loopback, all state in a
# temp dir. Source it, then:
#
#   azurite_bin          print the azurite-blob command (PATH, else the tool
#                        directory admin/deps.sh installs into); non-zero when absent
#   azurite_start DIR    start it; sets AZURITE_PORT, AZURITE_URL (the path-style
#                        service URL http://127.0.0.1:PORT/devstoreaccount1);
#                        non-zero when not installed or not ready
#   azurite_stop         stop what azurite_start started (by PID)
#
# Account devstoreaccount1 with the emulator's well-known key AZURITE_KEY.
# azurite checks SharedKey signatures and SAS signatures (a wrong one: 403).

AZURITE_PID=
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

azurite_bin() {
	local b
	if b=$(command -v azurite-blob 2>/dev/null); then
		echo "$b"
		return 0
	fi
	b=${WHARF_TOOLS:-${HOME:-/root}/.cache/wharf}/azurite/node_modules/.bin/azurite-blob
	[ -x "$b" ] && command -v node >/dev/null 2>&1 || return 1
	echo "$b"
}

azurite__port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

azurite_start() {
	local d=$1 bin
	bin=$(azurite_bin) || return 2
	mkdir -p "$d"
	AZURITE_PORT=$(azurite__port) || return 1
	AZURITE_URL=http://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT
	"$bin" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" -l "$d" --disableTelemetry \
		--skipApiVersionCheck --silent >"$d/azurite.log" 2>&1 </dev/null &
	AZURITE_PID=$!
	# ready when it answers HTTP (an unsigned request: 403 or 400)
	for _ in $(seq 150); do
		kill -0 "$AZURITE_PID" 2>/dev/null || return 1
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$AZURITE_URL?comp=list")" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

azurite_stop() {
	[ -n "$AZURITE_PID" ] || return 0
	kill "$AZURITE_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$AZURITE_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$AZURITE_PID" 2>/dev/null
	wait "$AZURITE_PID" 2>/dev/null
	AZURITE_PID=
}
