# Shared harness of the multi-daemon tests: each test takes its own run dir
# and free ports, starts real pkvd processes, waits for events with a
# deadline, and kills only the processes it started, by pid.
# Needs: PKVD, PKV, PKV_KEYGEN (paths, set by meson).
set -euo pipefail
# Under pipefail, `CMD | grep -q P` fails when grep exits at its first match
# while CMD still writes (SIGPIPE; bash's echo writes a line at a time): a
# check that flakes on a loaded machine. Match a string with
# `grep -q P <<<"$STRING"`, and a command's output with
# `grep -q P <<<"$(CMD)"` or `CMD | grep P >/dev/null` (which reads it all).

: "${PKVD:?}" "${PKV:?}" "${PKV_KEYGEN:?}"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pkv-test.XXXXXX")
export PKV_RUN_DIR=$T_DIR
declare -A T_PID=()
T_SIZE=3
T_FT=${T_FT:-600} # failure timeout, ms
T_DEADLINE=${T_DEADLINE:-30}

t_log() { echo "# $*"; }
# A test whose exit 1 means one thing (a hole reproduced) sets
# T_FAIL_PREFIX and T_FAIL_EXIT for every other failure.
# The message comes again after the daemons' log tails: meson prints only
# the last 100 lines of a failed test's output.
t_fail() {
	echo "${T_FAIL_PREFIX:-FAIL}: $*" >&2
	for f in "$T_DIR"/node*/pkvd.log; do
		[ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }
	done
	echo "${T_FAIL_PREFIX:-FAIL}: $*" >&2
	exit "${T_FAIL_EXIT:-1}"
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

# t_fault NODE SPEC: a fault of the fault-injection build (pkv-fault) on
# node NODE; the test is skipped (77) on a build without them.
t_fault() {
	local rc=0
	: "${PKV_FAULT:?}"
	"$PKV_FAULT" "$T_DIR/node$1/pkvd.sock" "$2" >/dev/null || rc=$?
	[ "$rc" = 77 ] && { echo "SKIP: pkvd built without -Dfault_injection=true"; exit 77; }
	[ "$rc" = 0 ] || t_fail "fault node$1 '$2': exit $rc"
}

# Predicates for t_wait_for: each reads the daemon afresh on every call.
t_field_is() { [ "$(t_field "$1" "$2")" = "$3" ]; }
t_quorum_is() { t_field_is "$1" quorum "$2"; }
t_connected_count() { t_field "$1" connected | wc -w; }
t_connected_is() { [ "$(t_connected_count "$1")" = "$2" ]; }
# t_lock_waiters NODE N: N lock waiters are queued on NODE, each holding two
# watches there (docs/design.md §8.5: the key's queue and its lock's
# waiters; T_WATCHES_PER_WAITER=1 for a build before waiter keys)
t_lock_waiters() { [ "$(t_field "$1" watches | cut -d' ' -f1)" = "$(($2 * ${T_WATCHES_PER_WAITER:-2}))" ]; }
t_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# t_hold NODE KEY VALUE: `pkv hold KEY VALUE -- sleep 600` through node NODE
# (T_PID[hold], its output in $T_DIR/hold.out and hold.err), its command
# too ours to stop at the end (T_PID[hold-cmd]); waits for KEY = VALUE on
# every node.
t_hold() {
	local i
	"$PKV" -n "node$1" hold "$2" "$3" -- sleep 600 >"$T_DIR/hold.out" 2>"$T_DIR/hold.err" &
	T_PID[hold]=$!
	t_wait_for "pkv hold runs its command" sh -c "[ -n \"\$(cat /proc/${T_PID[hold]}/task/${T_PID[hold]}/children)\" ]"
	T_PID[hold-cmd]=$(awk '{ print $1 }' "/proc/${T_PID[hold]}/task/${T_PID[hold]}/children")
	for i in $(seq 1 "$T_SIZE"); do
		t_wait_for "$2 on node$i" sh -c "[ \"\$('$PKV' -n node$i get $2 2>/dev/null)\" = $3 ]"
	done
}

# t_hold_rode_out KEY VALUE GEN T0 MS: node1 restarted at T0 (t_now_ms)
# while node2 and node3 block it; heals the cut, then checks that node1's
# lease came back within MS of T0 (the peers surely keep the binding that
# long, else there is nothing to check), that KEY still holds generation
# GEN on every node, and that t_hold's `pkv hold KEY VALUE` runs on with
# its command never signalled.
t_hold_rode_out() {
	local key=$1 value=$2 gen=$3 t0=$4 ms=$5 t1 i g
	t_log "heal"
	t_fault 2 ""
	t_fault 3 ""
	t_wait_for "node1 holds its lease again" sh -c "[ \"\$('$PKV' -n node1 get $key 2>/dev/null)\" = $value ]"
	t1=$(t_now_ms)
	t_log "node1's lease was back $((t1 - t0)) ms after the SIGKILL"
	[ $((t1 - t0)) -lt "$ms" ] ||
		t_fail "node1's lease came back only $((t1 - t0)) ms after the SIGKILL, past the $ms ms the peers surely keep the binding: nothing to check"
	for i in 1 2 3; do
		g=$(t_pkv -n "node$i" get -g "$key" | tail -n 1)
		[ "$g" = "$gen" ] || t_fail "$key on node$i: generation '$g', want $gen"
	done
	kill -0 "${T_PID[hold]}" 2>/dev/null || t_fail "pkv hold ended: $(cat "$T_DIR/hold.err")"
	[ ! -s "$T_DIR/hold.err" ] || t_fail "pkv hold signalled its command: $(cat "$T_DIR/hold.err")"
	t_log "pkv hold rode out a $((t1 - t0)) ms restart; its command was not signalled"
}

t_start_cluster() { # N [extra pkvd args...]
	T_SIZE=$1
	shift
	local i boot=--bootstrap
	# a new cluster is created; one whose nodes ran before is not
	for i in $(seq 1 "$T_SIZE"); do [ -f "$T_DIR/node$i/state" ] && boot=; done
	for i in $(seq 1 "$T_SIZE"); do t_start "$i" $boot "$@"; done
	for i in $(seq 1 "$T_SIZE"); do
		t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1
	done
}

# t_flood_node1 KIND DATAGRAMS STAT: the attack tests of docs/design.md §7
# ("Bounded work"). A 3-node cluster whose node1 holds 300 keys in bucket
# flood gets DATAGRAMS datagrams full of KIND (keys: KEYS_REQ, sync:
# SYNC_REQ) from a configured node that is not running (pkv-wire-flood);
# once node1 has handled them all, its RSS grew by at most 24 MB, the flood
# cost at most 500 ms of its CPU, and the counter STAT dropped at least 400
# requests a datagram. T_FLOOD_KEYS holds the key count.
T_FLOOD_KEYS=300
# t_stat I NAME: the counter NAME of nodeI's `pkv stats` (empty: none).
t_stat() {
	"$PKV" -n "node$1" stats | tr ' ' '\n' | sed -n "s/^$2=//p"
}
# t_has_mark I MARK N: nodeI handled the pkv-wire-flood mark MARK, a lone
# CHOSEN: it learned it, or (a daemon that takes a lone CHOSEN as a hint,
# docs/design.md §3.5) it counted at least N unchecked CHOSENs.
t_has_mark() {
	[ "$("$PKV" -n "node$1" get -b flood-mark "$2" 2>/dev/null)" = handled ] ||
		[ "$(t_stat "$1" chosen_unchecked)" -ge "$3" ] 2>/dev/null
}
t_flood_node1() {
	local kind=$1 dgrams=$2 stat=$3 mark="mark-$1" bucket=flood pid rss0 cpu0 rss1 cpu1 hz
	local dropped
	: "${PKV_WIRE_FLOOD:?}"
	[ "$kind" = sync ] && bucket=-
	t_start_cluster 3
	t_wait_for "node1 sees 3 connected" t_connected_is 1 3
	"$PKV_WIRE_FLOOD" fill node1 flood "$T_FLOOD_KEYS" || t_fail "fill"
	pid=${T_PID[1]}
	rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	"$PKV_WIRE_FLOOD" send "$T_DIR/cluster.key" paxoskv $((T_PORT_BASE + 1)) 4 "$kind" \
		"$bucket" "$dgrams" "$mark" || t_fail "send"
	# The mark travels behind the flood from the same sender: once node1
	# has it, it has handled every datagram of the flood.
	t_wait_for "node1 handled the flood" t_has_mark 1 "$mark" 1
	rss1=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	hz=$(getconf CLK_TCK)
	t_log "node1: RSS ${rss0} kB -> ${rss1} kB; CPU $(((cpu1 - cpu0) * 1000 / hz)) ms for the flood"
	[ $((rss1 - rss0)) -le 24576 ] || t_fail "RSS grew by $((rss1 - rss0)) kB"
	[ $(((cpu1 - cpu0) * 1000 / hz)) -le 500 ] ||
		t_fail "the flood cost $(((cpu1 - cpu0) * 1000 / hz)) ms of CPU"
	dropped=$("$PKV" -n node1 stats | tr ' ' '\n' | sed -n "s/^$stat=//p")
	t_log "$stat=$dropped"
	[ "${dropped:-0}" -ge $((dgrams * 400)) ] || t_fail "$stat=${dropped:-none}"
}
