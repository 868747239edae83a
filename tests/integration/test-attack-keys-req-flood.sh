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
: "${PKV_WIRE_FLOOD:?}"

KEYS=300
DGRAMS=10
t_start_cluster 3
t_wait_for "node1 sees 3 connected" t_connected_is 1 3
"$PKV_WIRE_FLOOD" fill node1 flood "$KEYS" || t_fail "fill"

pid=${T_PID[1]}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
stat_of() { "$PKV" -n "node$1" stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }
rss0=$(rss_kb)
cpu0=$(cpu_ticks)
"$PKV_WIRE_FLOOD" send "$T_DIR/cluster.key" paxoskv $((T_PORT_BASE + 1)) 4 keys flood \
	"$DGRAMS" mark-keys || t_fail "send"
# The mark travels behind the flood from the same sender: once node1 has
# it, it has handled every datagram of the flood.
marked() { [ "$("$PKV" -n node1 get -b flood-mark mark-keys 2>/dev/null)" = handled ]; }
t_wait_for "node1 handled the flood" marked
rss1=$(rss_kb)
cpu1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
t_log "node1: RSS ${rss0} kB -> ${rss1} kB; CPU $(((cpu1 - cpu0) * 1000 / hz)) ms for the flood"
[ $((rss1 - rss0)) -le 24576 ] || t_fail "RSS grew by $((rss1 - rss0)) kB"
[ $(((cpu1 - cpu0) * 1000 / hz)) -le 500 ] || t_fail "the flood cost $(((cpu1 - cpu0) * 1000 / hz)) ms of CPU"
dropped=$(stat_of 1 keys_over_budget)
t_log "keys_over_budget=$dropped"
[ "${dropped:-0}" -ge $((DGRAMS * 400)) ] || t_fail "keys_over_budget=${dropped:-none}"
# A legitimate listing, on the flooded node and on another.
for n in 1 2; do
	got=$("$PKV" -n "node$n" keys -b flood | wc -l)
	[ "$got" = "$KEYS" ] || t_fail "node$n lists $got keys of $KEYS"
done
kill -0 "$pid" || t_fail "node1 died"
t_quorum_is 1 yes || t_fail "node1 lost quorum"
echo ok
