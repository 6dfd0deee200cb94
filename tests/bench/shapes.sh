#!/usr/bin/env bash
# tests/bench/shapes.sh — the shared bench harness through each deployment
# shape, side by side, with the reference registry 2.8.2 behind the same front
# ends:
#   wharf+nginx       nginx + FastCGI pool, blobs by X-Accel-Redirect (make run)
#   wharf+apache      Apache + mod_proxy_fcgi, blobs by X-Sendfile (make run FRONT=apache)
#   wharf-cgi+apache  Apache + plain CGI via apache-conf/htaccess (one process per
#                     request, blobs streamed by the CGI: accel none)
#   distribution+nginx   the reference behind nginx (proxy_pass, shared harness)
#   distribution+apache  the reference behind Apache (mod_proxy_http)
# All plain HTTP on 127.0.0.1 (TLS costs every target the same), fresh storage.
# Results: tests/bench/results/shapes-<date>.{md,jsonl}; summarise them in
# tests/bench/RESULTS-shapes.md. Extra arguments go to bench.py (e.g. --only small).
# Env: BENCH_DIR (../shared/bench), SHAPES_PORT (first of 5 ports, 5100),
# BENCH_* sizes (defaults below are smaller than the harness's: 5 targets).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
[ -x "$bench/reference.sh" ] || { echo "shapes: no harness at $bench (set BENCH_DIR)" >&2; exit 1; }
for t in wrk hey; do
	command -v $t >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $t >/dev/null
done
FRONT=apache "$repo/admin/deps.sh"
[ -x "$repo/build/wharf" ] || { echo "shapes: build first (make)" >&2; exit 1; }
p0=${SHAPES_PORT:-5100}
PN=$p0 PA=$((p0 + 1)) PC=$((p0 + 2)) PRA=$((p0 + 3))
for p in $PN $PA $PC $PRA $((p0 + 90)) $((p0 + 91)) $((p0 + 92)); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "shapes: port $p busy" >&2; exit 1; fi
done
export BENCH_REPEAT=${BENCH_REPEAT:-2} BENCH_BLOB_MB=${BENCH_BLOB_MB:-256} \
	BENCH_TAGS=${BENCH_TAGS:-500} BENCH_REPOS=${BENCH_REPOS:-500}
S=$(mktemp -d /tmp/bench-shapes-XXXXXX)
chmod 755 "$S"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -f "$S/ref/ref.env" ] && "$bench/reference.sh" down "$S/ref" >/dev/null 2>&1
	rm -rf "$S"
}
trap cleanup EXIT
wait_up() { # URL
	local i
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "shapes: no answer on $1" >&2
	return 1
}

# make run, twice: nginx and Apache in front of a pool each
WHARF_PORT=$PN WHARF_RUNDIR=$S/nginx/run WHARF_DATA=$S/nginx/data WHARF_LOGLEVEL=warn \
	"$repo/admin/run.sh" >"$S/nginx.log" 2>&1 &
pids+=($!)
FRONT=apache WHARF_PORT=$PA WHARF_RUNDIR=$S/apache/run WHARF_DATA=$S/apache/data WHARF_LOGLEVEL=warn \
	"$repo/admin/run.sh" >"$S/apache.log" 2>&1 &
pids+=($!)

# the shared-hosting shape: a document root with .htaccess and wharf.cgi
C=$S/cgi
mkdir -p "$C/run/sites" "$C/pub" "$C/data"
chmod 755 "$C" "$C/run" "$C/pub"
cp "$repo/build/wharf" "$C/pub/wharf.cgi"
cat >"$C/config.yml" <<EOF
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $C/data }
  delete: { enabled: true }
http: { secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') }
fastcgi: { blobs: { accel: none } }
EOF
chmod 644 "$C/config.yml"
chown -R nobody "$C/data"
sed "s|SetEnv WHARF_CONFIG /home/USER/wharf/config.yml|SetEnv WHARF_CONFIG $C/config.yml|" \
	"$repo/apache-conf/htaccess" >"$C/pub/.htaccess"
sed -e "s|@RUNDIR@|$C/run|g" -e "s|@USER@|nobody|g" -e "s|@GROUP@|$(id -gn nobody)|g" \
	"$repo/apache-conf/httpd.conf.in" >"$C/run/httpd.conf"
cat >"$C/run/sites/cgi.conf" <<EOF
Listen 127.0.0.1:$PC
<VirtualHost 127.0.0.1:$PC>
    DocumentRoot $C/pub
    <Directory $C/pub>
        AllowOverride All
        Require all granted
    </Directory>
</VirtualHost>
EOF
apache2 -d "$C/run" -f "$C/run/httpd.conf" -DFOREGROUND >"$S/cgi.log" 2>&1 &
pids+=($!)

# the reference, direct (as the backend of Apache) and behind nginx
REF_DIRECT_PORT=$((p0 + 90)) REF_BACKEND_PORT=$((p0 + 91)) REF_PROXY_PORT=$((p0 + 92)) \
	"$bench/reference.sh" up "$S/ref" >/dev/null
# shellcheck disable=SC1091
source "$S/ref/ref.env"
R=$S/refapache
mkdir -p "$R/sites"
sed -e "s|@RUNDIR@|$R|g" -e "s|@USER@|nobody|g" -e "s|@GROUP@|$(id -gn nobody)|g" \
	"$repo/apache-conf/httpd.conf.in" >"$R/httpd.conf"
cat >"$R/sites/ref.conf" <<EOF
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
Listen 127.0.0.1:$PRA
<VirtualHost 127.0.0.1:$PRA>
    AllowEncodedSlashes NoDecode
    LimitRequestBody 0
    ProxyPreserveHost On
    ProxyPass "/v2/" "http://127.0.0.1:$((p0 + 90))/v2/" nocanon timeout=900
    RequestHeader set X-Forwarded-Proto "http"
</VirtualHost>
EOF
apache2 -d "$R" -f "$R/httpd.conf" -DFOREGROUND >"$S/refapache.log" 2>&1 &
pids+=($!)

for u in "http://127.0.0.1:$PN/v2/" "http://127.0.0.1:$PA/v2/" "http://127.0.0.1:$PC/v2/" \
	"http://127.0.0.1:$PRA/v2/" "$REF_PROXY_URL/v2/"; do
	wait_up "$u"
done
mkdir -p "$repo/tests/bench/results"
out=$repo/tests/bench/results/shapes-$(date -u +%Y%m%d-%H%M%S)
cd "$bench"
python3 bench.py --title "Wharf deployment shapes vs reference $REF_VERSION" \
	--target "wharf+nginx=http://127.0.0.1:$PN" \
	--target "distribution+nginx=$REF_PROXY_URL" \
	--target "wharf+apache=http://127.0.0.1:$PA" \
	--target "distribution+apache=http://127.0.0.1:$PRA" \
	--target "wharf-cgi+apache=http://127.0.0.1:$PC" \
	--rss-pattern "wharf+nginx=wharf serve -c $S/nginx/run/config.yml|nginx.*$S/nginx/run" \
	--rss-pattern "wharf+apache=wharf serve -c $S/apache/run/config.yml|apache2 -d $S/apache/run" \
	--rss-pattern "wharf-cgi+apache=apache2 -d $C/run|$C/pub/wharf.cgi" \
	--rss "distribution+nginx=$REF_PROXIED_PID,$REF_NGINX_PIDS" \
	--rss-pattern "distribution+apache=apache2 -d $R|$S/ref/direct" --rss-children \
	--out "$out" "$@"
echo "results: $out.md" >&2
