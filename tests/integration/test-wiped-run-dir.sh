#!/usr/bin/env bash
# A wiped run dir is a node that lost its state, never a first boot. A
# durable cluster of three is created (--bootstrap) and a key chosen; all
# three stop, node2's and node3's run dirs are wiped, and they start again
# as a service manager would start them, without --bootstrap. They form a
# majority that lost its state: they must wait out the quiet period and the
# grace for a synced majority and then say loudly that they start a new
# epoch, never bootstrap an empty cluster silently. A run dir of another
# cluster is refused at start.
. "$(dirname "$0")/lib.sh"

for i in 1 2 3; do t_start "$i" --bootstrap --durable; done
for i in 1 2 3; do t_wait_for "node$i ready" "$PKV" -n "node$i" wait --timeout 1; done
grep -q "first boot (bootstrap)" "$T_DIR/node1/pkvd.log" || t_fail "node1 did not boot as a new cluster"
[ "$(t_pkv -n node1 put chosen-before v1)" = v1 ] || t_fail "put before the wipe"
for i in 1 2 3; do t_stop "$i"; done

rm -rf "$T_DIR/node2" "$T_DIR/node3"
start=$(t_now_ms)
t_start 2 --durable
t_start 3 --durable
t_wait_for "node2 serves again" t_field_is 2 synced yes
t_wait_for "node3 serves again" t_field_is 3 synced yes
t_log "the wiped majority serves again after $(($(t_now_ms) - start)) ms, in a new epoch"
for i in 2 3; do
	grep -q "a node that lost its state" "$T_DIR/node$i/pkvd.log" ||
		t_fail "node$i did not say it lost its state"
	grep -q "NEW EPOCH" "$T_DIR/node$i/pkvd.log" || t_fail "node$i bootstrapped silently (no NEW EPOCH)"
	! grep -q "first boot" "$T_DIR/node$i/pkvd.log" || t_fail "node$i took a wiped run dir for a first boot"
	[ "$(t_field "$i" epoch)" -ge 1 ] || t_fail "node$i: epoch not counted"
done

# --bootstrap on a node that ran before is ignored, and said so.
t_start 1 --durable --bootstrap
t_wait_for "node1 back" "$PKV" -n node1 wait --timeout 1
grep -q "this node has run before; --bootstrap ignored" "$T_DIR/node1/pkvd.log" ||
	t_fail "node1: --bootstrap on an existing state file not reported"

# A state file of another cluster: refused, naming both clusters.
t_stop 1
sed -i 's/^cluster .*/cluster someone-else/' "$T_DIR/node1/state"
rc=0
"$PKVD" --node 1 --cluster-size 3 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" \
	>"$T_DIR/other.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || t_fail "a run dir of another cluster: exit $rc"
grep -q "belongs to cluster 'someone-else'" "$T_DIR/other.out" || t_fail "message: $(cat "$T_DIR/other.out")"
echo ok
