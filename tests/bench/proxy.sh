#!/usr/bin/env bash
# tests/bench/proxy.sh — pull-through cache timings (issue 8), results for
# tests/bench/RESULTS-proxy.md. A 5-layer image (LAYER_MB each, random data)
# on the reference registry (upstream, loopback); skopeo pulls it to a dir:
#   direct   from the upstream itself
#   first    through a fresh Wharf mirror (fetch + store + stream)
#   second   through the same mirror again (served from storage)
#   plain    from a plain Wharf the image was pushed to
# RUNS (default 3) of each; the median is printed.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/proxy_lib.sh"
e2e_init
RUNS=${RUNS:-3}
LAYER_MB=${LAYER_MB:-20}

mkimage "$TMP/img" --tag v1 --layers 5 --size $((LAYER_MB * 1000000)) --seed bench-proxy >/dev/null
up_start a || exit 1
A=${UP_HOST[a]}
skopeo_copy oci:"$TMP/img":v1 "docker://$A/library/bench:v1"
wharf_start || exit 1
PLAIN=$W_HOST
skopeo_copy oci:"$TMP/img":v1 "docker://$PLAIN/library/bench:v1"

# t SRC: T_SEC = seconds for one skopeo pull of SRC into a fresh dir (no
# subshell: lib.sh's EXIT trap must only run in the main shell)
t() {
	rm -rf "$TMP/out"
	local s e
	s=$(date +%s.%N)
	skopeo_copy "$1" dir:"$TMP/out" || { echo "pull of $1 failed" >&2; exit 1; }
	e=$(date +%s.%N)
	T_SEC=$(echo "$e - $s" | bc)
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a direct first second plain
for ((r = 0; r < RUNS; r++)); do
	t "docker://$A/library/bench:v1"
	direct+=("$T_SEC")
	export REGISTRY_PROXY_UPSTREAMS="[{prefix: hub, remoteurl: 'http://$A', ttl: 0}]"
	wharf_start || exit 1
	unset REGISTRY_PROXY_UPSTREAMS
	t "docker://$W_HOST/hub/library/bench:v1"
	first+=("$T_SEC")
	t "docker://$W_HOST/hub/library/bench:v1"
	second+=("$T_SEC")
	wharf_stop
	t "docker://$PLAIN/library/bench:v1"
	plain+=("$T_SEC")
done
d=$(printf '%s\n' "${direct[@]}" | median)
f=$(printf '%s\n' "${first[@]}" | median)
s=$(printf '%s\n' "${second[@]}" | median)
p=$(printf '%s\n' "${plain[@]}" | median)
echo "image: 5 layers x $LAYER_MB MB, $RUNS runs, median seconds (skopeo copy to dir:)"
echo "direct from upstream: $d   (runs: ${direct[*]})"
echo "first through mirror: $f   (runs: ${first[*]})   ratio first/direct: $(echo "scale=2; $f / $d" | bc)"
echo "second through mirror: $s  (runs: ${second[*]})"
echo "plain Wharf:          $p   (runs: ${plain[*]})   ratio second/plain: $(echo "scale=2; $s / $p" | bc)"
t_ok "proxy bench ran"
e2e_done
