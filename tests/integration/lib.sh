# Shared harness of the multi-daemon tests: each test takes its own run dir
# and free ports, starts real pkvd processes, waits for events with a
# deadline, and kills only the processes it started, by pid.
# Needs: PKVD, PKV, PKV_KEYGEN (paths, set by meson).
set -euo pipefail

: "${PKVD:?}" "${PKV:?}" "${PKV_KEYGEN:?}"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pkv-test.XXXXXX")
export PKV_RUN_DIR=$T_DIR
declare -A T_PID=()
T_SIZE=3
T_FT=${T_FT:-600} # failure timeout, ms
T_DEADLINE=${T_DEADLINE:-30}

t_log() { echo "# $*"; }
t_fail() {
	echo "FAIL: $*" >&2
	for f in "$T_DIR"/node*/pkvd.log; do
		[ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

t_cleanup() {
	local pid
	for pid in "${T_PID[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	[ -n "${T_KEEP:-}" ] && echo "kept $T_DIR" >&2 || rm -rf "$T_DIR"
}
trap t_cleanup EXIT

# A base port such that base+1..base+16 are free UDP ports right now.
t_free_ports() {
	local base p busy
	for _ in $(seq 1 200); do
		base=$((20000 + ((RANDOM * 32768 + RANDOM) % 2500) * 16))
		busy=0
		for p in $(seq $((base + 1)) $((base + 16))); do
			if [ -n "$(ss -Hanu "( sport = :$p )" 2>/dev/null)" ]; then
				busy=1
				break
			fi
		done
		[ "$busy" = 0 ] && { echo "$base"; return 0; }
	done
	return 1
}
T_PORT_BASE=$(t_free_ports)
export PKV_PORT_BASE=$T_PORT_BASE

t_keygen() { [ -f "$T_DIR/cluster.key" ] || "$PKV_KEYGEN" "$T_DIR/cluster.key" >/dev/null; }

# t_start I [extra pkvd args...]
t_start() {
	local i=$1
	shift
	t_keygen
	mkdir -p "$T_DIR/node$i"
	"$PKVD" --node "$i" --cluster-size "$T_SIZE" --run-dir "$T_DIR" \
		--port-base "$T_PORT_BASE" --failure-timeout "$T_FT" ${T_HB:+--heartbeat "$T_HB"} "$@" \
		>>"$T_DIR/node$i/pkvd.log" 2>&1 &
	T_PID[$i]=$!
}

# t_stop I [SIGNAL]: stop our daemon I and reap it
t_stop() {
	local i=$1 sig=${2:-TERM} pid=${T_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -"$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "T_PID[$i]"
}

t_pkv() { "$PKV" "$@"; }

# t_field NODE NAME: one field of `pkv cluster` on node NODE
t_field() {
	"$PKV" -n "node$1" cluster 2>/dev/null | sed -n "s/^$2: //p"
}

# t_wait_for DESCRIPTION CMD...: run CMD until it succeeds, or fail after the deadline
t_wait_for() {
	local what=$1 end
	shift
	end=$(($(date +%s%N) / 1000000 + T_DEADLINE * 1000))
	until "$@"; do
		if [ $(($(date +%s%N) / 1000000)) -ge "$end" ]; then
			t_fail "timed out after ${T_DEADLINE}s waiting for: $what"
		fi
		sleep 0.02
	done
}

# Predicates for t_wait_for: each reads the daemon afresh on every call.
t_field_is() { [ "$(t_field "$1" "$2")" = "$3" ]; }
t_quorum_is() { t_field_is "$1" quorum "$2"; }
t_connected_count() { t_field "$1" connected | wc -w; }
t_connected_is() { [ "$(t_connected_count "$1")" = "$2" ]; }
t_now_ms() { echo $(($(date +%s%N) / 1000000)); }

t_start_cluster() { # N
	T_SIZE=$1
	local i boot=--bootstrap
	# a new cluster is created; one whose nodes ran before is not
	for i in $(seq 1 "$T_SIZE"); do [ -f "$T_DIR/node$i/state" ] && boot=; done
	for i in $(seq 1 "$T_SIZE"); do t_start "$i" $boot; done
	for i in $(seq 1 "$T_SIZE"); do
		t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1
	done
}
