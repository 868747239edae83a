#!/usr/bin/env bash
# The voter set changes under concurrent writers and never splits or loses a
# value. Three voters and two extra daemons (node4 started as
# `pkv-cluster start 4` starts it); five writers, one through each daemon,
# put distinct keys and keys all of them put in the same 200 ms slot. The
# voters go 3 -> 4 (add node4) -> 5 (add node5, with voter node2 cut off
# from every daemon meanwhile) -> 4 (remove node5) -> 3 (remove node4),
# through `pkv member` only. After each step every daemon's `pkv cluster`
# shows the same voters, and every key a writer was told was chosen reads
# that value on every daemon (pkv-agree check). A change may answer
# not_in_sync or fail while a voter is cut off; it is retried through the
# daemons that missed it until the deadline, and a wrong value is never
# accepted. Before the first change and after the last, {node1, node2} are
# cut off from {node3, node4, node5}: the three daemons of the second side,
# two of them extra (or former) voters, must not choose, and the side with
# two of the three voters must.
. "$(dirname "$0")/lib.sh"
: "${PKV_AGREE:?}" "${PKV_FAULT:?}" "${PKV_CLUSTER:?}"
T_DEADLINE=${T_DEADLINE_MEMBERS:-45}
ALL="1 2 3 4 5"
LOGS=()

# cut "A" "B": the daemons of side A and side B (ids, space separated) lose
# every datagram between the sides, in both directions.
cut() {
	local a b
	for a in $1; do t_fault "$a" "block=$(echo "$2" | tr ' ' ',')"; done
	for b in $2; do t_fault "$b" "block=$(echo "$1" | tr ' ' ',')"; done
}
in_list() { [[ " $2 " == *" $1 "* ]]; }
# node1 (a voter throughout) hears all five; every daemon hears node1..node3
# (daemons that are not voters need not hear each other).
hears_123() { local c; c=$(t_field "$1" connected); in_list node1 "$c" && in_list node2 "$c" && in_list node3 "$c"; }
heal() {
	local n
	for n in $ALL; do t_fault "$n" ""; done
	t_wait_for "node1 sees all five" t_connected_is 1 5
	for n in $ALL; do t_wait_for "node$n hears node1..node3" hears_123 "$n"; done
}

# True when every daemon shows the voters WANT, and says voter yes exactly on them.
same_voters() { # WANT
	local n v
	for n in $ALL; do
		[ "$(t_field "$n" voters)" = "$1" ] || return 1
		v=$(t_field "$n" voter)
		if in_list "node$n" "$1"; then [ "$v" = yes ] || return 1; else [[ "$v" == no* ]] || return 1; fi
	done
}

# Waits until every daemon shows the voters WANT. A daemon that missed the
# change (cut off while it ran) is given it again after a grace period,
# `pkv -n nodeN resize K` through it, whatever that answers.
wait_voters() { # WANT
	local want=$1 k n end nudge out rc
	k=$(echo "$want" | wc -w)
	end=$(($(t_now_ms) + T_DEADLINE * 1000))
	nudge=$(($(t_now_ms) + 5000))
	until same_voters "$want"; do
		[ "$(t_now_ms)" -lt "$end" ] || {
			for n in $ALL; do t_log "node$n voters: $(t_field "$n" voters) voter: $(t_field "$n" voter)"; done
			t_fail "the daemons do not agree on the voters '$want' after ${T_DEADLINE}s"
		}
		if [ "$(t_now_ms)" -ge "$nudge" ]; then
			for n in $ALL; do
				[ "$(t_field "$n" voters)" = "$want" ] && continue
				rc=0; out=$(t_pkv -n "node$n" resize "$k" 2>&1) || rc=$?
				t_log "node$n still shows voters '$(t_field "$n" voters)': resize $k through it: $out (exit $rc)"
			done
			nudge=$(($(t_now_ms) + 3000))
		fi
		sleep 0.1
	done
	t_log "every daemon shows voters: $want"
}

# An answer a membership change may give: ok, not_in_sync, no quorum or no
# answer in time (the daemon is unavailable); never a usage error or a refusal.
change_answer_ok() { # RC OUT
	case "$1:$2" in
	0:ok | 3:not_in_sync | 2:* | 69:*) return 0 ;;
	*) return 1 ;;
	esac
}

# One membership step through node VIA, then every daemon must show WANT.
change() { # WANT VIA PKV-ARGS...
	local want=$1 via=$2 out rc=0
	shift 2
	out=$(t_pkv -n "node$via" "$@" 2>&1) || rc=$?
	t_log "pkv -n node$via $*: $out (exit $rc)"
	change_answer_ok "$rc" "$out" || t_fail "pkv $*: '$out' exit $rc"
	wait_voters "$want"
}

# Every key any writer was told was chosen reads that value on all five daemons.
check_agreement() { # LABEL
	local out rc=0
	out=$("$PKV_AGREE" check $((T_DEADLINE * 1000)) 1,2,3,4,5 "${LOGS[@]}") || rc=$?
	t_log "$1: $(echo "$out" | tail -n 1)"
	[ "$rc" = 0 ] || t_fail "$1: agreement check failed (exit $rc):
$out"
}

# Only the side holding a majority of the voters chooses KEY; the other side
# (FAR, through node FARNODE) answers no quorum or nothing, never a value.
split_chooses_once() { # KEY NEAR FARNODE
	local key=$1 near=$2 far=$3 rc=0 out
	t_pkv -n "node$far" put --timeout 2000 "$key" "from-$far" >"$T_DIR/far.out" 2>&1 &
	local far_pid=$!
	out=$(t_pkv -n "node$near" put --timeout 5000 "$key" "from-$near") ||
		t_fail "$key: the side with a majority of the voters did not choose"
	[ "$out" = "from-$near" ] || t_fail "$key: node$near's put answered '$out'"
	wait "$far_pid" || rc=$?
	[ "$rc" != 0 ] || t_fail "$key: node$far chose '$(cat "$T_DIR/far.out")' without a majority of the voters"
	t_log "$key: node$near chose from-$near; node$far answered exit $rc"
}

# Every daemon reads KEY as VALUE, through the command line.
reads_everywhere() { # KEY VALUE
	local n got
	for n in $ALL; do
		# A daemon just healed from a cut answers once it sees a quorum
		# and its acceptor has synced again (heal waits for connections).
		t_wait_for "node$n has quorum" t_quorum_is "$n" yes
		t_wait_for "node$n synced" t_field_is "$n" synced yes
		got=$(t_pkv -n "node$n" get "$1") || t_fail "node$n: get $1 failed"
		[ "$got" = "$2" ] || t_fail "node$n reads $1='$got', want '$2'"
	done
}

# {node1, node2} against {node3, node4, node5}: node4 and node5 are not voters.
split_12_345() { # KEY
	cut "1 2" "3 4 5"
	t_wait_for "node1 sees only node2" t_connected_is 1 2
	t_wait_for "node3 sees only node4 and node5" t_connected_is 3 3
	t_wait_for "node3 loses quorum" t_quorum_is 3 no
	t_wait_for "node1 keeps quorum" t_quorum_is 1 yes
	split_chooses_once "$1" 1 4
	rc=0; t_pkv -n node5 put --timeout 2000 "$1" from-5 >/dev/null 2>&1 || rc=$?
	[ "$rc" != 0 ] || t_fail "$1: node5 answered a put on the side without a majority"
	heal
	reads_everywhere "$1" from-1
}

start=$(t_now_ms)
t_start_cluster 3
export PKVD PKV_FAILURE_TIMEOUT=$T_FT
for n in 4 5; do
	"$PKV_CLUSTER" start "$n" >/dev/null || t_fail "pkv-cluster start $n"
	T_PID[$n]=$(cat "$T_DIR/node$n/pkvd.pid")
done
for n in 4 5; do t_wait_for "node$n synced" t_field_is "$n" synced yes; done
t_wait_for "node1 sees all five" t_connected_is 1 5
t_wait_for "every daemon shows the voters node1 node2 node3, node4 and node5 not voting" \
	same_voters "node1 node2 node3"

# More daemons than voters: the three of {3,4,5} are no majority.
split_12_345 split-before

# The writers, one through each daemon, until the stop file appears.
for n in $ALL; do
	LOGS+=("$T_DIR/w$n.log")
	"$PKV_AGREE" write "$T_DIR/w$n.log" "node$n" "$n" "$T_DIR/stop" 120 >"$T_DIR/w$n.out" 2>&1 &
	T_PID[w$n]=$!
done
chosen_20() { [ "$(cat "${LOGS[@]}" | grep -c '^C ')" -ge 20 ]; }
t_wait_for "the writers have chosen 20 keys" chosen_20
check_agreement "3 voters"

change "node1 node2 node3 node4" 1 member add node4
check_agreement "4 voters"

# node2, a voter, is cut off from every daemon while node5 is added.
cut "2" "1 3 4 5"
t_wait_for "node1 sees node2 gone" t_connected_is 1 4
t_wait_for "node2 sees no quorum" t_quorum_is 2 no
t_pkv -n node3 member add node5 >"$T_DIR/add5.out" 2>&1 &
add5=$!
T_PID[add5]=$add5
# Meanwhile node2 alone chooses nothing, and the others still choose.
split_chooses_once cut-key 3 2
add5_done() { ! kill -0 "$add5" 2>/dev/null; }
t_wait_for "member add node5 answers" add5_done
rc=0; wait "$add5" || rc=$?
unset "T_PID[add5]"
t_log "pkv -n node3 member add node5 with node2 cut off: $(cat "$T_DIR/add5.out") (exit $rc)"
change_answer_ok "$rc" "$(cat "$T_DIR/add5.out")" || t_fail "member add node5: $(cat "$T_DIR/add5.out") exit $rc"
heal
wait_voters "node1 node2 node3 node4 node5"
reads_everywhere cut-key from-3
check_agreement "5 voters, after node2 was cut off"

change "node1 node2 node3 node4" 4 member remove node5
check_agreement "4 voters"
change "node1 node2 node3" 2 member remove node4
check_agreement "3 voters"

# node4 and node5 voted and were removed: {3,4,5} is still no majority.
split_12_345 split-after

touch "$T_DIR/stop"
for n in $ALL; do
	rc=0; wait "${T_PID[w$n]}" || rc=$?
	unset "T_PID[w$n]"
	[ "$rc" = 0 ] || t_fail "writer $n exited $rc: $(cat "$T_DIR/w$n.out")"
	t_log "$(cat "$T_DIR/w$n.out")"
done
check_agreement "the end"
t_log "took $(($(t_now_ms) - start)) ms"
echo ok
