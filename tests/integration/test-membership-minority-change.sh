#!/usr/bin/env bash
# A change of the voters asked for on the minority side of a partition gives
# that side no majority. Five voters; {node1, node2} are cut off from
# {node3, node4, node5}; through node1, `pkv member remove node5` and then
# `remove node4` (one step at a time, whatever each answers). Then both
# sides put one key at once: {3,4,5} holds a majority of the five voters
# and chooses; {1,2} must not — were the removals applied on its side
# alone, it would count itself a majority of the voters {1,2,3} and choose
# a second value. After the heal every daemon reads one value and shows
# the same voters.
#
# Exit 1 ("hole reproduced: …") when both sides chose: a change applied
# without the current voters' majority; a change is chosen by the voters
# (docs/design.md §5), so it passes now. Any other
# failure exits 99, which meson reports as an error either way.
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"
T_DEADLINE=${T_DEADLINE_MEMBERS:-45}
ALL="1 2 3 4 5"

# Failures of the harness or of another rule are errors (99), not the hole.
T_FAIL_PREFIX="FAIL (not the hole)" T_FAIL_EXIT=99

t_start_cluster 5
t_wait_for "node1 sees all five" t_connected_is 1 5
[ "$(t_field 1 voters)" = "node1 node2 node3 node4 node5" ] || t_fail "voters: $(t_field 1 voters)"

for n in 1 2; do t_fault "$n" "block=3,4,5"; done
for n in 3 4 5; do t_fault "$n" "block=1,2"; done
t_wait_for "node1 sees only node2" t_connected_is 1 2
t_wait_for "node1 loses quorum" t_quorum_is 1 no
t_wait_for "node3 sees only node4 and node5" t_connected_is 3 3
t_wait_for "node3 keeps quorum" t_quorum_is 3 yes

for step in "remove node5" "remove node4"; do
	rc=0; out=$(t_pkv -n node1 member $step 2>&1) || rc=$?
	t_log "on the minority side, pkv -n node1 member $step: $out (exit $rc)"
done
t_log "node1 now shows voters: $(t_field 1 voters), quorum: $(t_field 1 quorum)"

# Both sides at once.
t_pkv -n node1 put --timeout 3000 minority-key from-1 >"$T_DIR/near.out" 2>&1 &
near=$!
T_PID[near]=$near
rc3=0; out3=$(t_pkv -n node3 put --timeout 5000 minority-key from-3 2>&1) || rc3=$?
rc1=0; wait "$near" || rc1=$?
unset "T_PID[near]"
out1=$(cat "$T_DIR/near.out")
t_log "node1 (minority) put: '$out1' exit $rc1; node3 (majority) put: '$out3' exit $rc3"
if [ "$rc1" = 0 ] && [ "$rc3" = 0 ] && [ "$out1" != "$out3" ]; then
	echo "hole reproduced: both sides chose minority-key: node1 '$out1', node3 '$out3'" >&2
	exit 1
fi
[ "$rc3" = 0 ] && [ "$out3" = from-3 ] ||
	t_fail "the side with a majority of the voters did not choose: '$out3' exit $rc3"
[ "$rc1" != 0 ] || [ "$out1" = from-3 ] || t_fail "node1 answered '$out1'"

for n in $ALL; do t_fault "$n" ""; done
t_wait_for "node1 sees all five again" t_connected_is 1 5
voters=$(t_field 3 voters)
same_voters() { local n; for n in $ALL; do [ "$(t_field "$n" voters)" = "$voters" ] || return 1; done; }
t_wait_for "every daemon shows the voters '$voters'" same_voters
for n in $ALL; do
	# A daemon healed from the cut answers once it sees a quorum and its
	# acceptor has synced again.
	t_wait_for "node$n has quorum after the heal" t_quorum_is "$n" yes
	t_wait_for "node$n synced after the heal" t_field_is "$n" synced yes
	got=$(t_pkv -n "node$n" get minority-key) || t_fail "node$n: get minority-key failed"
	[ "$got" = from-3 ] || { echo "hole reproduced: node$n reads minority-key='$got' after the heal, node3 chose from-3" >&2; exit 1; }
done
t_log "voters after the heal: $voters"
echo ok
