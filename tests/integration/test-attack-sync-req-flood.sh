#!/usr/bin/env bash
# Attack: datagrams full of SYNC_REQ, sealed with the cluster key as a
# configured node that is not running. Before the answer budget (docs/
# design.md §7, "Bounded work"), each of the ~870 SYNC_REQ of a datagram
# was answered with a page of 32 records. Now a peer gets answers only while
# its budget lasts: the rest are dropped and counted (sync_over_budget), RSS
# and CPU stay flat, and a legitimate restart sync afterwards still copies
# the store.
. "$(dirname "$0")/lib.sh"
t_flood_node1 sync 20 sync_over_budget
# A legitimate sync: node3 restarts without its state and copies node1 and
# node2 again (node1's budget for node3 is its own, untouched by node 4).
t_stop 3
t_start 3
t_wait_for "node3 synced again" t_field_is 3 synced yes
got=$("$PKV" -n node3 keys -b flood | wc -l)
[ "$got" = "$T_FLOOD_KEYS" ] || t_fail "node3 lists $got keys of $T_FLOOD_KEYS after its sync"
kill -0 "${T_PID[1]}" || t_fail "node1 died"
echo ok
