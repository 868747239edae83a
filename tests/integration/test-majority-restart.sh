#!/usr/bin/env bash
# A majority of the cluster restarts without durable state while one daemon
# keeps its state: the restarted ones copy what the survivor holds, wait the
# grace period for a synced majority that cannot come, then start a new epoch
# and say so loudly, rather than wait forever. A value the survivor held is
# still there; new puts work. (A single restart beside a merely unreachable
# daemon keeps waiting: see test-no-quorum.)
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
[ "$(t_pkv -n node1 put survivor-held kept)" = kept ] || t_fail "put"
t_stop 2
t_stop 3
t_start 2
t_start 3
start=$(t_now_ms)
t_wait_for "node2 synced in a new epoch" t_field_is 2 synced yes
t_wait_for "node3 synced in a new epoch" t_field_is 3 synced yes
t_log "both restarted daemons serve again after $(($(t_now_ms) - start)) ms (grace 3 x ${T_FT} ms)"
grep -q "NEW EPOCH" "$T_DIR/node2/pkvd.log" || t_fail "node2 did not say it started a new epoch"
[ "$(t_field 2 epoch)" -ge 1 ] || t_fail "epoch not counted"
[ "$(t_pkv -n node3 get survivor-held)" = kept ] || t_fail "the survivor's value is lost"
[ "$(t_pkv -n node2 put after-epoch new)" = new ] || t_fail "put in the new epoch"
[ "$(t_pkv -n node1 get after-epoch)" = new ] || t_fail "node1 does not see the new put"
echo ok
