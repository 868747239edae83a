#!/usr/bin/env bash
# Attack: a holder of one node's key (node4's, in a dev cluster: derived
# from the cluster key) speaks as node4 to node1, outside the rules: a DROP
# of bucket victim (once one peer's DROP erased the bucket on every node,
# through the ERASE fan-out), a DROP naming a record nobody chose, and
# CHOSENs of "evil" for a key the cluster holds and for one it never saw
# (once one peer's CHOSEN was learned as it stood). Now a drop is applied
# only for a record the voters chose, and a lone CHOSEN is a hint that a
# read from the voters settles (docs/design.md §3.5, §4.4): every key stays,
# and no daemon answers "evil".
. "$(dirname "$0")/lib.sh"
: "${PKV_WIRE_FLOOD:?}"
t_start_cluster 3
t_wait_for "node1 sees 3 connected" t_connected_is 1 3
for i in 1 2 3; do
	t_pkv -n "node$i" put -b victim "k$i" "v$i" >/dev/null || t_fail "put victim/k$i"
done
base=$(t_stat 1 chosen_unchecked)
"$PKV_WIRE_FLOOD" forge "$T_DIR/cluster.key" paxoskv $((T_PORT_BASE + 1)) 4 victim k1 \
	mark-forge || t_fail "send"
# The mark follows the four forged messages: the mark learned (the old
# core), or three more unchecked CHOSENs counted (the two forged ones and
# the mark).
t_wait_for "node1 handled the forged datagrams" t_has_mark 1 mark-forge $((${base:-0} + 3))
t_log "node1: $("$PKV" -n node1 stats | grep '^authority:')"
# node1 acted on each message as it handled it (the old core erased and
# learned right there): the mark says it has handled them all.
for n in 1 2 3; do
	for i in 1 2 3; do
		v=$(t_pkv -n "node$n" get -b victim "k$i" 2>&1) || true
		[ "$v" = "v$i" ] || t_fail "node$n: victim/k$i is '$v', want v$i"
	done
	rc=0; v=$(t_pkv -n "node$n" get -b victim k-forged 2>&1) || rc=$?
	[ "$rc" = 1 ] || t_fail "node$n: victim/k-forged answered '$v' (exit $rc), want not found"
done
[ "$(t_stat 1 drops_applied)" = 0 ] || t_fail "node1 applied a drop"
echo ok
