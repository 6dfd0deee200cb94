# tests/bench/targets.sh — start the side-by-side targets of slow.sh and
# pushes.sh, and stop exactly what was started (by PID; other runs of nginx,
# Apache, Wharf or the reference on this machine are never touched).
# shellcheck shell=bash
#
#   wharf+nginx         admin/run.sh = `make run` (nginx + wharf serve, its defaults)
#   wharf+apache        FRONT=apache admin/run.sh = `make run FRONT=apache`
#   distribution        docker-registry (the reference) direct  } the shared harness's
#   distribution+nginx  the reference behind nginx proxy_pass   } reference.sh
#
# Usage (after `set -euo pipefail`):
#   source tests/bench/targets.sh
#   targets_up NAME            # NAME: a word for the scratch dir (slow, pushes)
#   python3 ... "${T_ARGS[@]}" # --target/--pool/--front arguments of the started targets
#   (targets_down runs at exit)
# or: targets_bench NAME TITLE "$@"  # all of the above for tests/bench/NAME.py
# Env: BENCH_TARGETS (space-separated subset of the four names above, in the
# order they run; default all four), BENCH_DIR (../shared/bench), BUILD
# (build), WHARF_WORKERS / WHARF_LOGLEVEL (passed to admin/run.sh only when
# set: the default is whatever `make run` does), TARGETS_KEEP=1 (keep the
# scratch dir: logs and data).

T_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_BENCH=${BENCH_DIR:-$T_REPO/../shared/bench}
T_BUILD=${BUILD:-build}
case $T_BUILD in /*) ;; *) T_BUILD=$T_REPO/$T_BUILD ;; esac
T_NAMES=${BENCH_TARGETS:-wharf+nginx wharf+apache distribution distribution+nginx}
T_RUNPIDS=()
T_ARGS=()
T_S=
T_REF=

t_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# t_port: T_P = a loopback port in 20000-30000 that nobody listens on and
# that was not handed out before (not in a subshell: T_USED must stick)
T_USED=" "
T_P=
t_port() {
	for _ in $(seq 1 200); do
		T_P=$((20000 + RANDOM % 10000))
		case $T_USED in *" $T_P "*) continue ;; esac
		t_busy "$T_P" && continue
		T_USED="$T_USED$T_P "
		return 0
	done
	echo "targets: no free port" >&2
	return 1
}

t_wait() { # URL PID LOG
	local code
	for _ in $(seq 1 150); do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true)
		case $code in 200 | 401) return 0 ;; esac
		kill -0 "$2" 2>/dev/null || break
		sleep 0.2
	done
	echo "targets: no answer on $1; log:" >&2
	tail -n 30 "$3" >&2
	return 1
}

t_want() { case " $T_NAMES " in *" $1 "*) return 0 ;; esac; return 1; }

# t_wharf NAME FRONT: admin/run.sh in $T_S/NAME with fresh storage
t_wharf() {
	local name=$1 front=$2 port d
	t_port
	port=$T_P
	d=$T_S/$name
	mkdir -p "$d"
	chmod 755 "$d"
	env ${WHARF_WORKERS:+WHARF_WORKERS=$WHARF_WORKERS} ${WHARF_LOGLEVEL:+WHARF_LOGLEVEL=$WHARF_LOGLEVEL} \
		FRONT="$front" BUILD="$T_BUILD" WHARF_PORT="$port" WHARF_RUNDIR="$d/run" WHARF_DATA="$d/data" \
		"$T_REPO/admin/run.sh" >"$d/run.log" 2>&1 </dev/null &
	T_RUNPIDS+=($!)
	t_wait "http://127.0.0.1:$port/v2/" $! "$d/run.log"
	local fpid=$d/run/nginx.pid
	[ "$front" = apache ] && fpid=$d/run/httpd.pid
	T_ARGS+=(--target "$name=http://127.0.0.1:$port" --pool "$name=pidfile:$d/run/wharf.pid"
		--front "$name=pidfile:$fpid")
	echo "targets: $name on 127.0.0.1:$port (make run${front:+ FRONT=$front}, $d)" >&2
}

targets_down() {
	local p
	# admin/run.sh stops its front and pool on TERM (and its guardian does
	# if the script itself is gone)
	for p in "${T_RUNPIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${T_RUNPIDS[@]}"; do
		for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$T_REF" ] && [ -f "$T_REF/ref.env" ]; then
		"$T_BENCH/reference.sh" down "$T_REF" >/dev/null 2>&1 || true
	fi
	if [ -n "$T_S" ] && [ -z "${TARGETS_KEEP:-}" ]; then rm -rf "$T_S"; fi
	[ -n "${TARGETS_KEEP:-}" ] && [ -n "$T_S" ] && echo "targets: kept $T_S" >&2
	return 0
}

targets_up() {
	[ -x "$T_BUILD/wharf" ] || { echo "targets: no $T_BUILD/wharf: run make first" >&2; return 1; }
	[ -x "$T_BENCH/reference.sh" ] || { echo "targets: no harness at $T_BENCH (set BENCH_DIR)" >&2; return 1; }
	if t_want wharf+apache; then FRONT=apache "$T_REPO/admin/deps.sh"; else "$T_REPO/admin/deps.sh"; fi
	if t_want distribution || t_want distribution+nginx; then
		command -v docker-registry >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
	fi
	T_S=$(mktemp -d "${TMPDIR:-/tmp}/bench-$1-XXXXXX")
	chmod 755 "$T_S"
	trap targets_down EXIT
	trap 'exit 130' INT TERM
	local n
	for n in $T_NAMES; do
		case $n in
		wharf+nginx) t_wharf wharf+nginx "" ;;
		wharf+apache) t_wharf wharf+apache apache ;;
		distribution | distribution+nginx)
			if [ -z "$T_REF" ]; then
				T_REF=$T_S/ref
				local p1 p2 p3
				t_port && p1=$T_P
				t_port && p2=$T_P
				t_port && p3=$T_P
				REF_DIRECT_PORT=$p1 REF_BACKEND_PORT=$p2 REF_PROXY_PORT=$p3 \
					"$T_BENCH/reference.sh" up "$T_REF" >/dev/null
				# shellcheck disable=SC1091
				source "$T_REF/ref.env"
				echo "targets: reference $REF_VERSION direct $REF_DIRECT_URL, behind nginx $REF_PROXY_URL" >&2
			fi
			if [ "$n" = distribution ]; then
				T_ARGS+=(--target "distribution=$REF_DIRECT_URL" --pool "distribution=pid:$REF_DIRECT_PID")
			else
				T_ARGS+=(--target "distribution+nginx=$REF_PROXY_URL" --pool "distribution+nginx=pid:$REF_PROXIED_PID"
					--front "distribution+nginx=pid:${REF_NGINX_PIDS%%,*}")
			fi
			;;
		*)
			echo "targets: unknown target '$n' (wharf+nginx wharf+apache distribution distribution+nginx)" >&2
			return 1
			;;
		esac
	done
}

# targets_bench NAME TITLE [ARGS...]: targets_up NAME, then tests/bench/NAME.py
# on every target with --title "TITLE (git describe)", --out
# tests/bench/results/NAME-<UTC date> and ARGS (slow.sh, pushes.sh)
targets_bench() {
	local name=$1 title=$2 dir=$T_REPO/tests/bench out
	shift 2
	targets_up "$name"
	mkdir -p "$dir/results"
	out=$dir/results/$name-$(date -u +%Y%m%d-%H%M%S)
	python3 "$dir/$name.py" --title "$title ($(git -C "$T_REPO" describe --always --dirty 2>/dev/null || echo '?'))" \
		"${T_ARGS[@]}" --out "$out" "$@"
}
