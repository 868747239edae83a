#!/usr/bin/env bash
# A daemon cut off from the majority stops vouching for what it cached
# (docs/design.md §5.1): by the time it says `quorum: no` its lease is over,
# so a get of a key the majority may have ended answers no quorum (exit 2),
# and `get --stale` still returns the value and says it is stale.
#  1. the owner of a pid-bound lock on the cut-off side: the majority ends
#     the binding and re-takes the lock; node3 must not go on answering its
#     own holder;
#  2. the owner on the majority side: node3 must not answer either;
#  3. a bucket dropped by the majority while node3 is cut off;
#  4. `pkv hold` on node3 stops its command once its lock is in doubt, and
#     one on node1 (majority side) keeps running.
# Then the partition heals and node3 reads the majority's values again.
# Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
t_fault 1 "" # skips on a build without faults

sleep 300 & holder3=$!
sleep 300 & holder1=$!
T_PID[h3]=$holder3 # reaped by t_cleanup
T_PID[h1]=$holder1
[ "$(t_pkv -n node3 put --pid "$holder3" lockk holder-on-3)" = holder-on-3 ] || t_fail "put lockk"
[ "$(t_pkv -n node1 put --pid "$holder1" lockm holder-on-1)" = holder-on-1 ] || t_fail "put lockm"
[ "$(t_pkv -n node1 put -b bk dropk before-drop)" = before-drop ] || t_fail "put dropk"
"$PKV" -n node3 hold holdk h3 -- sleep 60 2>"$T_DIR/hold3.err" & hold3=$!
"$PKV" -n node1 hold holdm h1 -- sleep 60 2>"$T_DIR/hold1.err" & hold1=$!
T_PID[hold3]=$hold3
T_PID[hold1]=$hold1
t_wait_for "node3 holds holdk" sh -c "[ \"\$('$PKV' -n node3 get holdk 2>/dev/null)\" = h3 ]"
t_wait_for "node1 holds holdm" sh -c "[ \"\$('$PKV' -n node1 get holdm 2>/dev/null)\" = h1 ]"
for n in 1 2 3; do
	[ "$(t_pkv -n "node$n" get lockk)" = holder-on-3 ] || t_fail "node$n lockk before the split"
	[ "$(t_pkv -n "node$n" get lockm)" = holder-on-1 ] || t_fail "node$n lockm before the split"
	[ "$(t_pkv -n "node$n" get -b bk dropk)" = before-drop ] || t_fail "node$n dropk"
done

t_log "cut node3 off"
t_fault 3 "block=1,2"; t_fault 1 "block=3"; t_fault 2 "block=3"
t_wait_for "node1 sees node3 down" t_connected_is 1 2
t_wait_for "node3 loses quorum" t_quorum_is 3 no

# The lease is shorter than the failure timeout: it is over by now.
rc=0; out=$(t_pkv -n node3 get lockk 2>"$T_DIR/err") || rc=$?
[ "$rc" = 2 ] || t_fail "cut-off node3 answered lockk with '$out' (exit $rc), want no quorum"
rc=0; out=$(t_pkv -n node3 get -g --stale lockk 2>"$T_DIR/err") || rc=$?
[ "$rc" = 0 ] && [ "$(echo "$out" | head -1)" = holder-on-3 ] ||
	t_fail "stale read of lockk on node3: exit $rc '$out'"
grep -q "stale" "$T_DIR/err" || t_fail "the stale read did not say so: $(cat "$T_DIR/err")"
grep -q '^no' <<<"$(t_field 3 lease)" || t_fail "node3 lease: $(t_field 3 lease)"

# 1. The majority ended node3's holder and re-takes the lock.
t_wait_for "node1 re-takes lockk" sh -c "[ \"\$('$PKV' -n node1 put lockk holder-on-1 2>/dev/null)\" = holder-on-1 ]"
rc=0; out=$(t_pkv -n node3 get lockk 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node3 still answers lockk after the majority re-took it: '$out' (exit $rc)"

# 2. The owner on the majority side.
rc=0; out=$(t_pkv -n node3 get lockm 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node3 answers lockm (owner on the majority side): '$out' (exit $rc)"

# 3. A bucket dropped by the majority.
t_pkv -n node1 drop bk >/dev/null || t_fail "drop bk"
[ "$(t_pkv -n node1 put -b bk dropk after-drop)" = after-drop ] || t_fail "put after the drop"
rc=0; out=$(t_pkv -n node3 get -b bk dropk 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node3 answers a key of a dropped bucket: '$out' (exit $rc)"
rc=0; out=$(t_pkv -n node3 get --stale -b bk dropk 2>/dev/null) || rc=$?
[ "$rc" = 0 ] && [ "$out" = before-drop ] || t_fail "stale read of dropk: exit $rc '$out'"

# 4. The holders.
t_wait_for "pkv hold on node3 stops its command" sh -c "! kill -0 $hold3 2>/dev/null"
rc=0; wait "$hold3" || rc=$?
[ "$rc" = 143 ] || t_fail "pkv hold on node3 exited $rc, want 143 (its command got SIGTERM)"
grep -q "in doubt" "$T_DIR/hold3.err" || t_fail "hold on node3 said: $(cat "$T_DIR/hold3.err")"
kill -0 "$hold1" 2>/dev/null || t_fail "pkv hold on node1 (majority side) stopped: $(cat "$T_DIR/hold1.err")"

t_log "heal"
for n in 1 2 3; do t_fault "$n" ""; done
t_wait_for "node3 regains quorum" t_quorum_is 3 yes
t_wait_for "node3 reads the majority's lockk" sh -c "[ \"\$('$PKV' -n node3 get lockk 2>/dev/null)\" = holder-on-1 ]"
t_wait_for "node3 reads the majority's dropk" sh -c "[ \"\$('$PKV' -n node3 get -b bk dropk 2>/dev/null)\" = after-drop ]"
echo ok
