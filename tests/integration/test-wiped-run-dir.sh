#!/usr/bin/env bash
# A wiped run dir is a node that lost its state, never a first boot. A
# durable cluster of three is created (--bootstrap) and a key chosen; all
# three stop, node2's and node3's run dirs are wiped, and they start again
# as a service manager would start them, without --bootstrap. They form a
# majority that lost its state: they must wait out the quiet period and the
# grace for a synced majority and then say loudly that they start a new
# epoch, never bootstrap an empty cluster silently. (Which of the two
# declares it depends on timing; the other may wait for node1, see
# docs/design.md §10.) A run dir of another cluster is refused at start.
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
new_epoch() { grep -q "NEW EPOCH" "$T_DIR/node2/pkvd.log" || grep -q "NEW EPOCH" "$T_DIR/node3/pkvd.log"; }
t_wait_for "a NEW EPOCH from the wiped majority" new_epoch
t_log "the wiped majority declared a new epoch $(($(t_now_ms) - start)) ms after its start"
for i in 2 3; do
	grep -q "a node that lost its state" "$T_DIR/node$i/pkvd.log" ||
		t_fail "node$i did not say it lost its state"
	! grep -q "first boot" "$T_DIR/node$i/pkvd.log" || t_fail "node$i took a wiped run dir for a first boot"
done

# node1 comes back (its state on disk); --bootstrap on a node that ran
# before is ignored, and said so. Every node serves, in the new epoch.
t_start 1 --durable --bootstrap
for i in 1 2 3; do t_wait_for "node$i serves" t_field_is "$i" synced yes; done
grep -q "this node has run before; --bootstrap ignored" "$T_DIR/node1/pkvd.log" ||
	t_fail "node1: --bootstrap on an existing state file not reported"
in_new_epoch() { [ "$(t_field "$1" epoch)" -ge 1 ] 2>/dev/null; }
for i in 1 2 3; do t_wait_for "node$i in the new epoch" in_new_epoch "$i"; done
[ "$(t_pkv -n node2 put after-epoch w)" = w ] || t_fail "put in the new epoch"

# A state file of another cluster: refused, naming both clusters.
t_stop 1
sed -i 's/^cluster .*/cluster someone-else/' "$T_DIR/node1/state"
rc=0
"$PKVD" --node 1 --cluster-size 3 --run-dir "$T_DIR" --port-base "$T_PORT_BASE" \
	>"$T_DIR/other.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || t_fail "a run dir of another cluster: exit $rc"
grep -q "belongs to cluster 'someone-else'" "$T_DIR/other.out" || t_fail "message: $(cat "$T_DIR/other.out")"
echo ok
