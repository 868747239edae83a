#!/usr/bin/env bash
# Holders are told per binding (docs/design.md §5.1): once lease_lost put a
# lock in doubt, `pkv hold --doubt-signal 0` keeps its command running and
# waits for the verdict on the subscription's per-binding events.
#  1. node3 deaf (block_in: its peers hear it, it hears none): its lease
#     lapses but the majority still counts it connected, so the binding
#     holds; at the heal the hold says "lifetime confirmed" and its command
#     runs on.
#  2. node3 cut off both ways: the majority counts node3 down, ends the
#     holder's binding and re-takes the lock; at the heal the hold says
#     "lifetime ended" and stops its command (SIGTERM: exit 143).
# Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
t_fault 1 "" # skips on a build without faults

hold() { # hold NAME KEY VALUE: pkv hold on node3, its command a long sleep
	"$PKV" -n node3 hold --doubt-signal 0 "$2" "$3" -- \
		sh -c "echo \$\$ >'$T_DIR/$1.cmd'; exec sleep 300" >/dev/null 2>"$T_DIR/$1.err" &
	T_PID[$1]=$!
	t_wait_for "node3 holds $2" sh -c "[ \"\$('$PKV' -n node3 get $2 2>/dev/null)\" = $3 ]"
	t_wait_for "$1's command runs" test -s "$T_DIR/$1.cmd"
	T_PID[$1cmd]=$(cat "$T_DIR/$1.cmd")
}
heal() { for n in 1 2 3; do t_fault "$n" ""; done; }

# 1. Deaf, not cut off: the binding is intact.
hold holdc lockc c3
t_log "node3 hears no one"
t_fault 3 "block_in=1,2"
t_wait_for "the hold says lockc is in doubt" grep -q "in doubt" "$T_DIR/holdc.err"
[ "$(t_pkv -n node1 get lockc)" = c3 ] || t_fail "node1 lost lockc while node3 was only deaf"
t_log "heal"
heal
t_wait_for "the hold says lockc is confirmed" grep -q "lifetime confirmed" "$T_DIR/holdc.err"
kill -0 "${T_PID[holdc]}" 2>/dev/null || t_fail "the hold of lockc stopped: $(cat "$T_DIR/holdc.err")"
! grep -q "lifetime ended" "$T_DIR/holdc.err" || t_fail "lockc: $(cat "$T_DIR/holdc.err")"
[ "$(t_pkv -n node1 get lockc)" = c3 ] || t_fail "node1 lockc after the heal"
kill "${T_PID[holdccmd]}" # its command done: the hold exits with it
rc=0; wait "${T_PID[holdc]}" || rc=$?
[ "$rc" = 143 ] || t_fail "the hold of lockc exited $rc: $(cat "$T_DIR/holdc.err")"

# 2. Cut off: the majority ends the binding and re-takes the lock.
hold holde locke e3
t_log "cut node3 off"
t_fault 3 "block=1,2"; t_fault 1 "block=3"; t_fault 2 "block=3"
t_wait_for "the hold says locke is in doubt" grep -q "in doubt" "$T_DIR/holde.err"
t_wait_for "node1 re-takes locke" sh -c "[ \"\$('$PKV' -n node1 put locke e1 2>/dev/null)\" = e1 ]"
kill -0 "${T_PID[holde]}" 2>/dev/null || t_fail "the hold of locke stopped in doubt: $(cat "$T_DIR/holde.err")"
t_log "heal"
heal
t_wait_for "the hold of locke stops its command" sh -c "! kill -0 ${T_PID[holde]} 2>/dev/null"
rc=0; wait "${T_PID[holde]}" || rc=$?
[ "$rc" = 143 ] || t_fail "the hold of locke exited $rc, want 143: $(cat "$T_DIR/holde.err")"
grep -q "lifetime ended" "$T_DIR/holde.err" || t_fail "locke: $(cat "$T_DIR/holde.err")"
! grep -q "lifetime confirmed" "$T_DIR/holde.err" || t_fail "locke: $(cat "$T_DIR/holde.err")"
echo ok
