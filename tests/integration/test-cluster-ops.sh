#!/usr/bin/env bash
# Cluster operations through pkv: watch prints quorum_lost / quorum_reached
# (and lease_lost / lease_regained) as they happen; resize changes the voters one at a time, each change
# chosen by the voters, and says not_in_sync when a voter is not there to
# take it (a node that missed a change learns it when it comes back); wait -b
# returns once the daemon can serve; buckets lists what was used.
. "$(dirname "$0")/lib.sh"

t_start_cluster 3
"$PKV" -n node1 watch >"$T_DIR/events" 2>"$T_DIR/watch.err" &
watcher=$!
T_PID[watcher]=$watcher
t_wait_for "watch subscribed" t_field_is 1 subscribers 1
# Paused daemons look like a partition: no restart, no resync needed.
kill -STOP "${T_PID[2]}" "${T_PID[3]}"
t_wait_for "quorum_lost event" grep -qx quorum_lost "$T_DIR/events"
kill -CONT "${T_PID[2]}"
t_wait_for "quorum_reached event" grep -qx quorum_reached "$T_DIR/events"
[ "$(grep quorum_ "$T_DIR/events" | tr '\n' ' ')" = "quorum_lost quorum_reached " ] ||
	t_fail "events: $(cat "$T_DIR/events")"
# The lease lapsed with the quorum and holds again (docs/design.md §5.1).
t_wait_for "lease_regained event" grep -qx lease_regained "$T_DIR/events"
[ "$(grep lease_ "$T_DIR/events" | tr '\n' ' ')" = "lease_lost lease_regained " ] ||
	t_fail "lease events: $(cat "$T_DIR/events")"
kill "$watcher"
wait "$watcher" 2>/dev/null || true
kill -CONT "${T_PID[3]}"
t_wait_for "node3 back" t_connected_is 1 3

# Growing: the new daemon runs first (a non-voter, copying the voters' state),
# then the resize makes it a voter while it is there to take the change.
t_start 4
t_wait_for "node4 synced" t_field_is 4 synced yes
[ "$(t_field 4 voter)" = "no (does not vote)" ] || t_fail "node4 voted before the resize"
[ "$(t_pkv -n node1 resize 4)" = ok ] || t_fail "resize 4"
for n in 1 2 3 4; do [ "$(t_field $n cluster_size)" = 4 ] || t_fail "node$n size after resize 4"; done
[ "$(t_field 4 voter)" = yes ] || t_fail "node4 is not a voter after the resize"
t_quorum_is 1 yes || t_fail "4 of 4 is a quorum"

t_stop 3
t_wait_for "node3 gone" t_connected_is 1 3
# node3 is a voter and misses it: never ok.
rc=0; out=$(t_pkv -n node2 resize 5) || rc=$?
[ "$out" = not_in_sync ] && [ "$rc" = 3 ] || t_fail "resize 5 without voter node3: '$out' exit $rc"
t_wait_for "3 of 5 is a quorum" t_quorum_is 1 yes
t_start 3 # comes back with configuration 0: it learns the change from its peers
t_wait_for "node3 back again" t_connected_is 1 4
t_wait_for "node3 synced" t_field_is 3 synced yes
rc=0; out=$(t_pkv -n node1 resize 5) || rc=$?
[ "$out" = not_in_sync ] && [ "$rc" = 3 ] || t_fail "resize with a node out of sync: '$out' exit $rc"
[ "$(t_field 3 cluster_size)" = 5 ] || t_fail "node3 did not take the new size"
# Two voters fewer at once runs as two changes, each chosen by the voters
# and followed by a catch-up (docs/design.md §5): 5 -> 4 -> 3. The voter
# node5 never ran; node4, removed last, is there to take the change.
[ "$(t_pkv -n node3 resize 3)" = ok ] || t_fail "resize 5 -> 3 in two steps"
for n in 1 2 3 4; do [ "$(t_field $n cluster_size)" = 3 ] || t_fail "node$n size after resize 3"; done
[ "$(t_field 4 voter)" = "no (does not vote)" ] || t_fail "node4 still votes after the resize to 3"
t_stop 4
rc=0; t_pkv resize 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || t_fail "resize 0 exited $rc"

t_pkv -n node1 wait --timeout 30 -b fresh-bucket || t_fail "wait -b"
t_pkv -n node1 put -b inventory apples 3 >/dev/null
grep -qx inventory <<<"$(t_pkv -n node1 buckets)" || t_fail "buckets: $(t_pkv -n node1 buckets)"

# watch ends (exit 69) when its daemon goes away, rather than spin
"$PKV" -n node3 watch >/dev/null 2>&1 &
watcher=$!
T_PID[watcher]=$watcher
t_wait_for "watch subscribed on node3" t_field_is 3 subscribers 1
t_stop 3
watch_gone() { ! kill -0 "$watcher" 2>/dev/null; }
t_wait_for "watch exits with its daemon" watch_gone
rc=0; wait "$watcher" || rc=$?
[ "$rc" = 69 ] || t_fail "watch exited $rc, want 69"
echo ok
