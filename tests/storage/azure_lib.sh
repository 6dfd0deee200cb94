#!/usr/bin/env bash
# tests/storage/azure_lib.sh — azurite (Microsoft's Azure Storage emulator,
# npm package `azurite`) serving the Blob API on loopback, all state in a
# temp dir. Source it, then:
#
#   azurite_bin          print the azurite-blob command (PATH, else the tool
#                        directory admin/deps.sh installs into); non-zero when absent
#   azure_start DIR      start it; sets AZURE_PORT, AZURE_SERVICEURL (the path-style
#                        service URL http://127.0.0.1:PORT/devstoreaccount1);
#                        non-zero when not installed (2) or not ready
#   azure_stop           stop what azure_start started (by PID)
#
# Account AZURE_ACCOUNT (devstoreaccount1) with the emulator's well-known key
# AZURE_KEY (storage.azure's accountname, accountkey, serviceurl).
# azurite checks SharedKey signatures and SAS signatures (a wrong one: 403).

AZURE_PID=
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

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

azure__port() {
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

azure_start() {
	local d=$1 bin
	bin=$(azurite_bin) || return 2
	mkdir -p "$d"
	AZURE_PORT=$(azure__port) || return 1
	AZURE_SERVICEURL=http://127.0.0.1:$AZURE_PORT/$AZURE_ACCOUNT
	"$bin" --blobHost 127.0.0.1 --blobPort "$AZURE_PORT" -l "$d" --disableTelemetry \
		--skipApiVersionCheck --silent >"$d/azurite.log" 2>&1 </dev/null &
	AZURE_PID=$!
	# ready when it answers HTTP (an unsigned request: 403 or 400)
	for _ in $(seq 150); do
		kill -0 "$AZURE_PID" 2>/dev/null || return 1
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$AZURE_SERVICEURL?comp=list")" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

azure_stop() {
	[ -n "$AZURE_PID" ] || return 0
	kill "$AZURE_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$AZURE_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$AZURE_PID" 2>/dev/null
	wait "$AZURE_PID" 2>/dev/null
	AZURE_PID=
}
