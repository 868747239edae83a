#!/usr/bin/env bash
# Liveness of the lock's arrival order (docs/design.md §8.5): an older
# waiter that leaves the free key untaken (here: stopped with SIGSTOP) holds
# the next one back only for the stall bound (2 s per older waiter), not
# for ever; continued, it gets the key after the one that passed it.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
t_has() { [ "$(t_pkv -n node1 get lk 2>/dev/null)" = "$1" ]; }
log=$T_DIR/holds

t_pkv -n node3 hold lk h0 -- sh -c "until [ -e '$T_DIR/go' ]; do sleep 0.02; done" &
T_PID[h0]=$!
t_wait_for "h0 holds lk" t_has h0
# pkv itself (no subshell), so that SIGSTOP stops the waiter
"$PKV" -n node1 hold --wait --timeout 60 lk A -- sh -c "echo \"\$PKV_GENERATION A\" >>'$log'" &
T_PID[A]=$!
t_wait_for "A queued on node1" t_lock_waiters 1 1
"$PKV" -n node2 hold --wait --timeout 60 lk B -- sh -c "echo \"\$PKV_GENERATION B\" >>'$log'" &
T_PID[B]=$!
t_wait_for "B queued on node2" t_lock_waiters 2 1
kill -STOP "${T_PID[A]}"
t0=$(t_now_ms)
touch "$T_DIR/go"
t_wait_for "B took lk past the stopped A" grep -q ' B$' "$log"
waited=$(($(t_now_ms) - t0))
# not before the bound: B knew A was older and waited for it
[ "$waited" -ge 1500 ] || t_fail "B took lk after ${waited} ms, before A's stall bound (2 s)"
kill -CONT "${T_PID[A]}"
wait "${T_PID[B]}" || t_fail "B exited $?"
wait "${T_PID[A]}" || t_fail "A exited $?"
got=$(sort -n "$log" | awk '{ printf "%s", $2 }')
[ "$got" = BA ] || t_fail "holders in token order $got, want BA: $(cat "$log")"
t_log "B passed the stopped A after ${waited} ms; A held lk once continued"
