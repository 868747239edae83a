#!/usr/bin/env bash
# Shrinking the voters one step at a time keeps every chosen value. Five
# voters; while {node1, node2} are cut off from {node3, node4, node5}, a put
# through node3 chooses v on {3,4,5} alone. After the heal, `pkv member
# remove node5` and `remove node4` (all five daemons up; each step waits
# until every daemon shows it). Then node3, the one remaining voter that
# accepted v, is cut off, and node1 puts w to the same key with the voters
# {1,2}: it must answer v. Were v never copied onto the new voters during
# the changes (a catch-up), {1,2} would be a majority of {1,2,3} that never
# saw v, and would choose w.
#
# Exit 1 ("hole reproduced: …") when node1 chose another value than v
# (hole 2: shrinking without a catch-up; the catch-up of docs/design.md §5
# closes it). Any other failure exits 99, which meson reports as an error.
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"
T_DEADLINE=${T_DEADLINE_MEMBERS:-45}
ALL="1 2 3 4 5"

# Failures of the harness or of another rule are errors (99), not the hole.
T_FAIL_PREFIX="FAIL (not the hole)" T_FAIL_EXIT=99
heal() { local n; for n in $ALL; do t_fault "$n" ""; done; t_wait_for "node1 sees all five" t_connected_is 1 5; }
same_voters() { local n; for n in $ALL; do [ "$(t_field "$n" voters)" = "$1" ] || return 1; done; }
remove() { # NODE WANT
	local rc=0 out
	out=$(t_pkv -n node1 member remove "$1" 2>&1) || rc=$?
	t_log "pkv -n node1 member remove $1: $out (exit $rc)"
	case "$rc:$out" in 0:ok | 3:not_in_sync | 2:* | 69:*) ;; *) t_fail "member remove $1: '$out' exit $rc" ;; esac
	t_wait_for "every daemon shows the voters '$2'" same_voters "$2"
}

t_start_cluster 5
t_wait_for "node1 sees all five" t_connected_is 1 5

for n in 1 2; do t_fault "$n" "block=3,4,5"; done
for n in 3 4 5; do t_fault "$n" "block=1,2"; done
t_wait_for "node1 sees only node2" t_connected_is 1 2
t_wait_for "node3 keeps quorum" t_quorum_is 3 yes
v=$(t_pkv -n node3 put --timeout 5000 shrink-key v) || t_fail "{3,4,5} did not choose"
[ "$v" = v ] || t_fail "node3's put answered '$v'"
heal

remove node5 "node1 node2 node3 node4"
remove node4 "node1 node2 node3"

for n in 1 2; do t_fault "$n" "block=3"; done
t_fault 3 "block=1,2"
t_wait_for "node1 sees node3 gone" t_connected_is 1 4
t_wait_for "node1 has quorum with node2" t_quorum_is 1 yes
rc=0; got=$(t_pkv -n node1 put --timeout 5000 shrink-key w 2>&1) || rc=$?
t_log "with voters {1,2} (node3 cut off), node1 put w: '$got' exit $rc"
if [ "$rc" = 0 ] && [ "$got" != v ]; then
	echo "hole reproduced: shrink-key was chosen v on {3,4,5}; after removing node5 and node4, {1,2} chose '$got'" >&2
	exit 1
fi
[ "$rc" = 0 ] || t_fail "node1's put with a majority of the voters: '$got' exit $rc"
heal
for n in $ALL; do
	# node3 was cut off: it answers reads again once it sees a quorum of
	# the voters and its acceptor has synced (heal waits for node1's view
	# only).
	t_wait_for "node$n has quorum after the heal" t_quorum_is "$n" yes
	t_wait_for "node$n synced after the heal" t_field_is "$n" synced yes
	got=$(t_pkv -n "node$n" get shrink-key) || t_fail "node$n: get shrink-key failed"
	[ "$got" = v ] || { echo "hole reproduced: node$n reads shrink-key='$got', chosen v" >&2; exit 1; }
done
echo ok
