#!/usr/bin/env bash
# A watch opened on a daemon that holds no lease (docs/design.md §5.1, §8.3)
# does not report the values it knows as chosen until the lease holds:
# node1, cut off past its lease, still holds a key bound to one of its own
# processes, which the majority ended when it counted node1 down. A key
# watch and a bucket watch opened on node1 then must not say "chosen" for
# it; after the heal they say "ended", and the bucket watch reports the
# plain key chosen once the lease holds. A watch used to report what the
# store held at once, the ended value as the current one. A `hold --wait`
# there times out and says the daemon has no lease. Needs
# -Dfault_injection=true (skips otherwise).
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

t_log "node1 cut off: past its lease, the majority ends 'mine'"
t_fault 2 "block=1"
t_fault 3 "block=1"
t_wait_for "node1 without quorum" t_quorum_is 1 no
for i in 2 3; do t_wait_for "mine gone on node$i" sh -c "'$PKV' -n node$i get mine >/dev/null 2>&1; [ \$? = 1 ]"; done
[ "$(t_pkv -n node1 get --stale mine 2>/dev/null)" = v1 ] || t_fail "node1 no longer holds mine"

# A waiter there is not granted the key, and is told why.
rc=0
out=$("$PKV" -n node1 hold --wait --timeout 1 mine v9 -- true 2>&1) || rc=$?
[ "$rc" = 75 ] || t_fail "hold --wait on node1 without a lease: exit $rc: $out"
grep -q "no quorum and lease" <<<"$out" || t_fail "hold --wait on node1 without a lease does not say so: $out"

"$PKV" -n node1 watch mine >"$T_DIR/wkey" 2>&1 &
T_PID[wkey]=$!
"$PKV" -n node1 watch -b PaxosKV >"$T_DIR/wbucket" 2>&1 &
T_PID[wbucket]=$!
t_wait_for "both watches open on node1" sh -c "[ \"\$('$PKV' -n node1 cluster | sed -n 's/^watches: \([0-9]*\).*/\1/p')\" = 2 ]"

t_log "heal"
t_fault 2 ""
t_fault 3 ""
t_wait_for "the key watch says mine ended" grep -q '^ended mine 1' "$T_DIR/wkey"
t_wait_for "the bucket watch says mine ended" grep -q '^ended mine 1' "$T_DIR/wbucket"
t_wait_for "the bucket watch says plain chosen" grep -q '^chosen plain 1 v2' "$T_DIR/wbucket"
for w in wkey wbucket; do
	if grep -q '^chosen mine' "$T_DIR/$w"; then
		t_fail "the $w watch on node1, without a lease, reported the value the majority ended: $(tr '\n' '|' <"$T_DIR/$w")"
	fi
done
echo ok
