#!/usr/bin/env bash
# Holders are told (docs/design.md §5.1): `pkv watch` on a daemon cut off
# from the majority prints lease_lost once its lease is over (its cached
# lifetimes are in doubt: a plain get answers no quorum by then), and
# lease_regained after the partition heals; a key whose lifetime the majority
# ended meanwhile is erased on the cut-off daemon as usual. A watcher on the
# majority side sees neither. Needs -Dfault_injection=true (skips otherwise).
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}"

t_start_cluster 3
t_fault 1 "" # skips on a build without faults

sleep 300 & holder3=$!
T_PID[h3]=$holder3 # reaped by t_cleanup
[ "$(t_pkv -n node3 put --pid "$holder3" lockk holder-on-3)" = holder-on-3 ] || t_fail "put lockk"
for n in 1 3; do
	"$PKV" -n "node$n" watch >"$T_DIR/events$n" 2>"$T_DIR/watch$n.err" &
	T_PID[w$n]=$!
	t_wait_for "watch subscribed on node$n" t_field_is "$n" subscribers 1
done
t_wait_for "node3 holds the lease" sh -c "[ \"\$('$PKV' -n node3 get lockk 2>/dev/null)\" = holder-on-3 ]"
[ ! -s "$T_DIR/events3" ] || t_fail "events on node3 before the split: $(cat "$T_DIR/events3")"

t_log "cut node3 off"
t_fault 3 "block=1,2"; t_fault 1 "block=3"; t_fault 2 "block=3"
t_wait_for "lease_lost on node3" grep -qx lease_lost "$T_DIR/events3"
# The event comes once the lease is over: the daemon says so too.
grep -q '^no' <<<"$(t_field 3 lease)" || t_fail "lease_lost, but node3 lease: $(t_field 3 lease)"
t_wait_for "node3 loses quorum" t_quorum_is 3 no
rc=0; out=$(t_pkv -n node3 get lockk 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node3 said lease_lost but answers lockk: '$out' (exit $rc)"
# The majority ends node3's holder and re-takes the lock.
t_wait_for "node1 re-takes lockk" sh -c "[ \"\$('$PKV' -n node1 put lockk holder-on-1 2>/dev/null)\" = holder-on-1 ]"

t_log "heal"
for n in 1 2 3; do t_fault "$n" ""; done
t_wait_for "lease_regained on node3" grep -qx lease_regained "$T_DIR/events3"
t_wait_for "node3 reads the majority's lockk" sh -c "[ \"\$('$PKV' -n node3 get lockk 2>/dev/null)\" = holder-on-1 ]"
got=$(grep lease_ "$T_DIR/events3" | tr '\n' ' ')
[ "$got" = "lease_lost lease_regained " ] || t_fail "node3 lease events: '$got'"
if grep -q lease_ "$T_DIR/events1"; then
	t_fail "node1 (majority side) lease events: $(cat "$T_DIR/events1")"
fi
echo ok
