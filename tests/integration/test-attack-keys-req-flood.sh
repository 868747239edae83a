#!/usr/bin/env bash
# Attack: datagrams full of KEYS_REQ, sealed with the cluster key as a
# configured node that is not running. Before the answer budget (docs/
# design.md §7, "Bounded work"), every one of the ~820 KEYS_REQ of a
# datagram queued every key of the bucket: 300 keys × 820 × 10 datagrams,
# 43 MB of RSS and 0.2 s of loop CPU per datagram. Now each request gets one
# page, and a peer gets answers only while its budget lasts: the rest are
# dropped and counted (keys_over_budget), RSS and CPU stay flat, and a
# legitimate listing afterwards returns every key.
. "$(dirname "$0")/lib.sh"
t_flood_node1 keys 10 keys_over_budget
# A legitimate listing, on the flooded node and on another.
for n in 1 2; do
	got=$("$PKV" -n "node$n" keys -b flood | wc -l)
	[ "$got" = "$T_FLOOD_KEYS" ] || t_fail "node$n lists $got keys of $T_FLOOD_KEYS"
done
kill -0 "${T_PID[1]}" || t_fail "node1 died"
t_quorum_is 1 yes || t_fail "node1 lost quorum"
echo ok
