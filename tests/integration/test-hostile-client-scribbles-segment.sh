#!/usr/bin/env bash
# A hostile local client (docs/design.md §8): it attaches to node1, tries to
# get write access to every descriptor it received but its own area
# (writable mapping, mprotect, a read-write reopen, pwrite, a punched hole,
# ftruncate: each must fail), then writes random bytes over all of its own
# area, post word included, for 4 s, ringing and draining its doorbell.
# Meanwhile three honest client processes (two on node1, one on node2) put
# and get their own keys: every answer must be the value put. Afterwards
# node1 still serves, every entry of its learner cache is a key the honest
# clients put with its value, and the daemons are alive.
. "$(dirname "$0")/lib.sh"
: "${PKV_HOSTILE:?}"

secs=${PKV_HOSTILE_SECONDS:-4}
t_start_cluster 3
sock=$T_DIR/node1/pkvd.sock
"$PKV_HOSTILE" hostile "$sock" "$secs" >"$T_DIR/hostile.out" 2>&1 &
hostile=$!
pids=()
for id in 1 2 3; do
	node=node$((id == 3 ? 2 : 1))
	"$PKV_HOSTILE" honest "$node" "$secs" "$id" >"$T_DIR/honest$id.out" 2>&1 &
	pids+=($!)
done
rc=0
wait "$hostile" || rc=$?
cat "$T_DIR/hostile.out"
[ "$rc" = 0 ] || t_fail "the hostile client could write what is not its own (exit $rc)"
for id in 1 2 3; do
	rc=0
	wait "${pids[$((id - 1))]}" || rc=$?
	cat "$T_DIR/honest$id.out"
	[ "$rc" = 0 ] || t_fail "honest client $id got a wrong answer or none (exit $rc)"
done
for n in 1 2 3; do
	kill -0 "${T_PID[$n]}" 2>/dev/null || t_fail "node$n died"
done
[ "$(t_pkv -n node1 put -b hostile-test hafter value-of-hafter)" = value-of-hafter ] ||
	t_fail "node1 stopped serving"
"$PKV_HOSTILE" check-cache "$sock" || t_fail "node1's cache holds what nobody put"
echo ok
