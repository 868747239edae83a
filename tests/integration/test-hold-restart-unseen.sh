#!/usr/bin/env bash
# `pkv hold` rides out a restart of its daemon that its library has not
# seen yet (docs/design.md §6.2). A SIGKILLed daemon leaves its segment
# marked alive: the library finds it gone at its next poll of the control
# socket, up to 50 ms later, and until then reads the cache it left, the
# lock still under the old lease, while `pkv cluster` may already reach the
# new incarnation. Such a read is the old incarnation's: a hold that took it
# for the new one's then took the new one's first reads, before its lease
# holds, for a doubt of a daemon that did not restart, and signalled its
# command. The hold runs with pkv-hide-hangup.so preloaded, which widens
# that window to as long as the test needs: node1 is SIGKILLed, its peers
# block it (its new incarnation answers without a lease), it is started
# again, and only once the new incarnation answers and the hold has read
# the old cache on does its library see the old one gone. The held command
# is never signalled, and after the cut heals the lock keeps its
# generation on every node. Needs -Dfault_injection=true (skips otherwise).
T_FT=8000 # the old lease outlives its daemon by at least 1.6 s (F/5)
. "$(dirname "$0")/lib.sh"
: "${PKV_FAULT:?}" "${PKV_HIDE_HANGUP:?}"

t_start_cluster 3 --durable
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
t_fault 1 "" # skips on a build without faults

hide=$T_DIR/hide-hangup # while it exists the hold's library sees no hangup
# A build with ASan: its runtime need not be the first library loaded.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	LD_PRELOAD=$PKV_HIDE_HANGUP PKV_HIDE_HANGUP_FILE=$hide t_hold 1 lock-unseen h
hgen=$(t_pkv -n node1 get -g lock-unseen | tail -n 1)
inc=$(t_field 1 incarnation)

t_log "node1 SIGKILLed, cut off and started again, unseen by the hold's library"
: >"$hide"
t_stop 1 KILL
t0=$(t_now_ms)
t_fault 2 "block=1"
t_fault 3 "block=1"
t_start 1 --durable
t_wait_for "node1's new incarnation answers" sh -c "i=\$('$PKV' -n node1 cluster 2>/dev/null | sed -n 's/^incarnation: //p'); [ -n \"\$i\" ] && [ \"\$i\" != '$inc' ]"
# Two hangups hidden after that: the hold read the old cache at least once
# with the new incarnation answering (a read and `pkv cluster` a loop).
n=$(stat -c %s "$hide")
t_wait_for "two more hangups hidden from pkv hold" \
	sh -c "[ \$(stat -c %s '$hide') -ge $((n + 2)) ]"
t_log "$(stat -c %s "$hide") hangups hidden, $(($(t_now_ms) - t0)) ms after the SIGKILL"
[ ! -s "$T_DIR/hold.err" ] || t_fail "pkv hold signalled its command before its library saw node1 gone: $(cat "$T_DIR/hold.err")"
rm "$hide"
# A deliberate outage: the hold reads the new incarnation, without a lease,
# every 20 ms meanwhile.
t1=$(t_now_ms)
while [ $(($(t_now_ms) - t1)) -lt 1500 ]; do sleep 0.05; done
rc=0
out=$(t_pkv -n node1 get lock-unseen 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "node1, cut off, answers lock-unseen without a lease: '$out' (exit $rc)"
[ ! -s "$T_DIR/hold.err" ] || t_fail "pkv hold signalled its command $(($(t_now_ms) - t0)) ms into the restart: $(cat "$T_DIR/hold.err")"

# F + grace - heartbeat: 8000 + 8000 - 1600
t_hold_rode_out lock-unseen h "$hgen" "$t0" 14400
echo ok
