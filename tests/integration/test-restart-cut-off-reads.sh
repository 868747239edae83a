#!/usr/bin/env bash
# A durable daemon restarted while cut off from the majority holds no lease
# (docs/design.md §5.1, §6.3): the values its log restored answer no quorum
# until a majority echoes it — a plain key, and a key whose lifetime the
# majority ended while it was down — and `get --stale` reads the first.
# Nor does it list or watch as chosen what it restored: the majority
# dropped a bucket while it was down (node1 cannot end those keys itself),
# and a key listing of it answers no quorum, and a watch of its key opened
# then says "ended" after the heal, never "chosen". After the heal it reads
# the plain key, and the ended one is gone. A restarted daemon used to take
# its restored values as vouched for: it answered both at once, with
# neither quorum nor lease, the ended one included, and listed and watched
# the dropped key as live. Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3 --durable
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
t_fault 1 "" # skips on a build without faults

sleep 600 &
T_PID[holder]=$!
# first: node1's votes on the puts after it write its learned record too
[ "$(t_pkv -n node2 put -b gone k v3)" = v3 ] || t_fail "put gone/k"
t_wait_for "gone/k on node1" sh -c "'$PKV' -n node1 get -b gone k >/dev/null 2>&1"
[ "$(t_pkv -n node1 put plain v1)" = v1 ] || t_fail "put plain"
# bound to a process node2 watches: the majority ends it without node1
[ "$(t_pkv -n node2 put --pid "${T_PID[holder]}" ended v2)" = v2 ] || t_fail "put ended"
for k in plain ended; do
	t_wait_for "$k on node1" sh -c "'$PKV' -n node1 get $k >/dev/null 2>&1"
done
inc=$(t_field 1 incarnation)

t_log "node1 cut off and SIGKILLed; the holder of 'ended' killed while it is down"
t_fault 2 "block=1"
t_fault 3 "block=1"
t_stop 1 KILL
kill -KILL "${T_PID[holder]}"
wait "${T_PID[holder]}" 2>/dev/null || true
unset "T_PID[holder]"
rc=0
for i in 2 3; do t_wait_for "ended gone on node$i" sh -c "'$PKV' -n node$i get ended >/dev/null 2>&1; [ \$? = 1 ]"; done
t_wait_for "node2 sees node1 down" t_connected_is 2 2
t_pkv -n node2 drop gone || t_fail "drop gone without node1"

t_log "node1 started again, still cut off"
t_start 1 --durable
t_wait_for "node1's new incarnation answers" sh -c "i=\$('$PKV' -n node1 cluster 2>/dev/null | sed -n 's/^incarnation: //p'); [ -n \"\$i\" ] && [ \"\$i\" != '$inc' ]"
grep -q "keys restored" "$T_DIR/node1/pkvd.log" || t_fail "node1 restored nothing from its log"
for k in plain ended; do
	rc=0
	out=$(t_pkv -n node1 get "$k" 2>&1) || rc=$?
	[ "$rc" = 2 ] || t_fail "node1, restarted and cut off, answers $k without a lease: '$out' (exit $rc); $(t_field 1 lease)"
done
[ "$(t_pkv -n node1 get --stale plain)" = v1 ] || t_fail "node1: get --stale plain"
[ "$(t_pkv -n node1 get --stale -b gone k 2>/dev/null)" = v3 ] || t_fail "node1 restored no gone/k"
rc=0
out=$(t_pkv -n node1 keys -b gone 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node1, restarted and cut off, lists keys without a lease: '$(tr '\n' ' ' <<<"$out")' (exit $rc)"
"$PKV" -n node1 watch -b gone k >"$T_DIR/wgone" 2>&1 &
T_PID[wgone]=$!
t_wait_for "the watch open on node1" sh -c "[ \"\$('$PKV' -n node1 cluster | sed -n 's/^watches: \([0-9]*\).*/\1/p')\" = 1 ]"
t_log "node1 answers no quorum for what its log restored, and --stale reads it"

t_log "heal"
t_fault 2 ""
t_fault 3 ""
t_wait_for "node1 reads plain" sh -c "[ \"\$('$PKV' -n node1 get plain 2>/dev/null)\" = v1 ]"
t_wait_for "ended gone on node1" sh -c "'$PKV' -n node1 get ended >/dev/null 2>&1; [ \$? = 1 ]"
t_wait_for "the watch says gone/k ended" grep -q '^ended k 1' "$T_DIR/wgone"
if grep -q '^chosen k' "$T_DIR/wgone"; then
	t_fail "the watch on node1, restarted without a lease, reported the dropped value: $(tr '\n' '|' <"$T_DIR/wgone")"
fi
echo ok
