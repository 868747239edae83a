#!/usr/bin/env bash
# pkv drop BUCKET erases every key of the bucket on every daemon (also keys
# a daemon holds only as an acceptor), leaves other buckets alone, and the
# next put in it chooses anew in a higher generation; without quorum a drop
# is refused (exit 2) and erases nothing.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
for i in 1 2 3; do
	t_pkv -n "node$i" put -b tmp "k$i" "old-$i" >/dev/null || t_fail "put tmp/k$i"
done
t_pkv -n node1 put -b keep stays yes >/dev/null || t_fail "put keep"
[ "$(t_pkv -n node2 keys -b tmp | wc -l)" = 3 ] || t_fail "keys before the drop"
t_pkv -n node3 drop tmp || t_fail "drop"
for n in 1 2 3; do
	for i in 1 2 3; do
		rc=0; t_pkv -n "node$n" get -b tmp "k$i" >/dev/null 2>&1 || rc=$?
		[ "$rc" = 1 ] || t_fail "node$n still has tmp/k$i (exit $rc)"
	done
	[ -z "$(t_pkv -n "node$n" keys -b tmp)" ] || t_fail "node$n lists keys of a dropped bucket"
	[ "$(t_pkv -n "node$n" get -b keep stays)" = yes ] || t_fail "node$n lost bucket keep"
done
out=$(t_pkv -n node1 put -b tmp k1 new-1) || t_fail "put after drop"
[ "$out" = new-1 ] || t_fail "put after drop chose '$out'"
gen=$(t_pkv -n node2 get -g -b tmp k1 | tail -n 1)
[ "$gen" -ge 2 ] || t_fail "generation after the drop: $gen"
t_log "after the drop tmp/k1 holds a new value in generation $gen"

t_stop 3
t_stop 2
t_wait_for "node1 loses quorum" t_quorum_is 1 no
rc=0; t_pkv -n node1 drop keep >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "drop without quorum exited $rc, want 2"
# Cut off, node1 vouches for nothing past its lease: read it stale.
[ "$(t_pkv -n node1 get --stale -b keep stays 2>/dev/null)" = yes ] || t_fail "a refused drop erased keep"
echo ok
