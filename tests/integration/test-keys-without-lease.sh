#!/usr/bin/env bash
# `pkv keys` on a daemon that holds no lease (docs/design.md §5.1) answers
# no quorum: its own keys may include a lifetime the majority ended. node1,
# cut off past its lease, still holds a key bound to one of its own
# processes, which the majority ended when it counted node1 down; after
# the heal node1 lists the plain key and not the ended one. A listing used
# to answer from the daemon's own keys, exit 0, the ended key among them.
# Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
t_fault 1 "" # skips on a build without faults

sleep 600 &
T_PID[holder]=$!
# bound to a process of node1's: the others end it when they count node1 down
[ "$(t_pkv -n node1 put --pid "${T_PID[holder]}" mine v1)" = v1 ] || t_fail "put mine"
[ "$(t_pkv -n node2 put plain v2)" = v2 ] || t_fail "put plain"
t_wait_for "plain on node1" sh -c "[ \"\$('$PKV' -n node1 get plain 2>/dev/null)\" = v2 ]"
[ "$(t_pkv -n node1 keys | tr '\n' ' ')" = "mine plain " ] || t_fail "node1 lists $(t_pkv -n node1 keys | tr '\n' ' ')"

t_log "node1 cut off: past its lease, the majority ends 'mine'"
t_fault 2 "block=1"
t_fault 3 "block=1"
t_wait_for "node1 without quorum" t_quorum_is 1 no
for i in 2 3; do t_wait_for "mine gone on node$i" sh -c "'$PKV' -n node$i get mine >/dev/null 2>&1; [ \$? = 1 ]"; done
[ "$(t_pkv -n node1 get --stale mine 2>/dev/null)" = v1 ] || t_fail "node1 no longer holds mine"
rc=0
out=$(t_pkv -n node1 keys 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node1, cut off past its lease, lists keys: '$(tr '\n' ' ' <<<"$out")' (exit $rc); $(t_field 1 lease)"

t_log "heal"
t_fault 2 ""
t_fault 3 ""
t_wait_for "node1 lists plain alone" sh -c "[ \"\$('$PKV' -n node1 keys 2>/dev/null | tr '\n' ' ')\" = 'plain ' ]"
echo ok
