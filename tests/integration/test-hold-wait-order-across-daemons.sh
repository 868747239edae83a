#!/usr/bin/env bash
# The lock that waits serves waiters of different daemons in their order of
# arrival (docs/design.md §8.5): A queues on node1 first, then B on node2,
# C on node3 and D on node2, behind a holder on node2. node2 hears of each
# release first (the holder's and B's end there), so under a rule where
# each daemon's first waiter races for every free generation its waiters
# win; by arrival, the tokens (generations) go A < B < C < D.
# T_WATCHES_PER_WAITER=1 runs it against a build before waiter keys
# (t_lock_waiters, lib.sh).
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
t_has() { [ "$(t_pkv -n node1 get lk 2>/dev/null)" = "$1" ]; }
log=$T_DIR/holds

t_pkv -n node2 hold lk h0 -- sh -c "until [ -e '$T_DIR/go' ]; do sleep 0.02; done" &
T_PID[h0]=$!
t_wait_for "h0 holds lk" t_has h0

# name node count: queue a waiter on node, wait until that node has count
waiter() {
	t_pkv -n "$2" hold --wait --timeout 60 lk "$1" -- \
		sh -c "echo \"\$PKV_GENERATION $1\" >>'$log'; sleep 0.1" &
	T_PID[$1]=$!
	t_wait_for "$1 queued on $2" t_lock_waiters "${2#node}" "$3"
}
waiter A node1 1
waiter B node2 1
waiter C node3 1
waiter D node2 2
touch "$T_DIR/go"
for w in A B C D; do
	wait "${T_PID[$w]}" || t_fail "waiter $w exited $?"
done
got=$(sort -n "$log" | awk '{ printf "%s", $2 }')
[ "$got" = ABCD ] || t_fail "holders in token order $got, want ABCD (arrival): $(sort -n "$log" | tr '\n' ' ')"
t_log "A (node1) B (node2) C (node3) D (node2) held lk in arrival order: $(sort -n "$log" | tr '\n' ' ')"
