#!/usr/bin/env bash
# With 1 of 3 daemons a put answers no_quorum promptly (exit 2); with
# --no-quorum retry it blocks and completes once a second daemon returns.
# node2 is paused (SIGSTOP), as in a partition, so it returns with its
# acceptor state; a daemon restarted without durable state could not help
# here: it must first sync from a majority not counting itself (docs/design.md §6.1).
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
kill -STOP "${T_PID[2]}"
t_stop 3
t_wait_for "node1 loses quorum" t_quorum_is 1 no

start=$(t_now_ms)
rc=0; t_pkv -n node1 put lonely v >/dev/null 2>"$T_DIR/err" || rc=$?
took=$(($(t_now_ms) - start))
[ "$rc" = 2 ] || t_fail "put without quorum exited $rc, want 2: $(cat "$T_DIR/err")"
grep -q "no quorum" "$T_DIR/err" || t_fail "message: $(cat "$T_DIR/err")"
t_log "no_quorum answered in ${took} ms"
[ "$took" -lt 2000 ] || t_fail "no_quorum took ${took} ms"
rc=0; t_pkv -n node1 get lonely >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "get without quorum exited $rc, want 2"

t_pkv -n node1 put --no-quorum retry waiting patient >"$T_DIR/retry.out" 2>&1 &
retry=$!
kill -CONT "${T_PID[2]}"
t_wait_for "node1 regains quorum" t_quorum_is 1 yes
wait "$retry" || t_fail "retry put failed: $(cat "$T_DIR/retry.out")"
[ "$(cat "$T_DIR/retry.out")" = patient ] || t_fail "retry put printed $(cat "$T_DIR/retry.out")"
[ "$(t_pkv -n node2 get waiting)" = patient ] || t_fail "node2 does not see the retried put"
echo ok
