#!/usr/bin/env bash
# Attack: datagrams full of SYNC_REQ, sealed with the cluster key as a
# configured node that is not running. Before the answer budget (docs/
# design.md §7, "Bounded work"), each of the ~870 SYNC_REQ of a datagram
# was answered with a page of 32 records. Now a peer gets answers only while
# its budget lasts: the rest are dropped and counted (sync_over_budget), RSS
# and CPU stay flat, and a legitimate restart sync afterwards still copies
# the store.
. "$(dirname "$0")/lib.sh"
: "${PKV_WIRE_FLOOD:?}"

KEYS=300
DGRAMS=20
t_start_cluster 3
t_wait_for "node1 sees 3 connected" t_connected_is 1 3
"$PKV_WIRE_FLOOD" fill node1 flood "$KEYS" || t_fail "fill"

pid=${T_PID[1]}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
stat_of() { "$PKV" -n "node$1" stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }
rss0=$(rss_kb)
cpu0=$(cpu_ticks)
"$PKV_WIRE_FLOOD" send "$T_DIR/cluster.key" paxoskv $((T_PORT_BASE + 1)) 4 sync - \
	"$DGRAMS" mark-sync || t_fail "send"
# The mark travels behind the flood from the same sender: once node1 has
# it, it has handled every datagram of the flood.
marked() { [ "$("$PKV" -n node1 get -b flood-mark mark-sync 2>/dev/null)" = handled ]; }
t_wait_for "node1 handled the flood" marked
rss1=$(rss_kb)
cpu1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
t_log "node1: RSS ${rss0} kB -> ${rss1} kB; CPU $(((cpu1 - cpu0) * 1000 / hz)) ms for the flood"
[ $((rss1 - rss0)) -le 24576 ] || t_fail "RSS grew by $((rss1 - rss0)) kB"
[ $(((cpu1 - cpu0) * 1000 / hz)) -le 500 ] || t_fail "the flood cost $(((cpu1 - cpu0) * 1000 / hz)) ms of CPU"
dropped=$(stat_of 1 sync_over_budget)
t_log "sync_over_budget=$dropped"
[ "${dropped:-0}" -ge $((DGRAMS * 400)) ] || t_fail "sync_over_budget=${dropped:-none}"
# A legitimate sync: node3 restarts without its state and copies node1 and
# node2 again (node1's budget for node3 is its own, untouched by node 4).
t_stop 3
t_start 3
t_wait_for "node3 synced again" t_field_is 3 synced yes
got=$("$PKV" -n node3 keys -b flood | wc -l)
[ "$got" = "$KEYS" ] || t_fail "node3 lists $got keys of $KEYS after its sync"
kill -0 "$pid" || t_fail "node1 died"
echo ok
