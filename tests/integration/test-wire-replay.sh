#!/usr/bin/env bash
# What a network attacker without keys tries with captured datagrams
# (pkv-capture records them off lo and sends them again, unchanged):
#  1. replay to a restarted node: node3's traffic is recorded, node1 is
#     killed, node3 restarts, the recording is replayed to it: node3 never
#     takes the dead node1 for up (the old wire took a restarted receiver's
#     first datagram from each sender as new, whatever its age);
#  2. redirect to another receiver: node1's datagrams to node2 are sent to
#     node3 while they are fresh: node3 rejects every one (the old wire
#     accepted them: one sequence counter for all receivers).
. "$(dirname "$0")/lib.sh"
: "${PKV_CAPTURE:?}"

rejects() { # total rejected datagrams on node I
	local total=0 kv
	for kv in $(t_field "$1" rejected); do total=$((total + ${kv#*=})); done
	echo "$total"
}
connected_has() { grep -qw "$2" <<<"$(t_field "$1" connected)"; }

t_start_cluster 3
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done

# --- 1. replay to a restarted node ------------------------------------------
rc=0
"$PKV_CAPTURE" record $((T_PORT_BASE + 3)) "$T_DIR/to-node3.cap" 2000 >"$T_DIR/n1" 2>"$T_DIR/cap1.err" &
cap=$!
capturing() { grep -qx capturing "$1" || ! kill -0 "$cap" 2>/dev/null; }
t_wait_for "capture of node3's traffic" capturing "$T_DIR/cap1.err"
for k in 1 2 3 4 5; do t_pkv -n node1 put -b B "k$k" "v$k" >/dev/null; done
wait "$cap" || rc=$?
[ "$rc" = 77 ] && { echo "skipped: no packet socket"; exit 77; }
[ "$rc" = 0 ] || t_fail "capture failed ($rc)"
t_log "recorded $(cat "$T_DIR/n1") datagrams to node3"
[ "$(cat "$T_DIR/n1")" -ge 10 ] || t_fail "too few datagrams recorded"

t_stop 1 KILL
t_wait_for "node3 sees node1 gone" t_connected_is 3 2
t_stop 3
t_start 3
t_wait_for "node3 sees node2" connected_has 3 node2
mark=$(wc -l <"$T_DIR/node3/pkvd.log")
before=$(rejects 3)
sent=$("$PKV_CAPTURE" replay "$T_DIR/to-node3.cap" $((T_PORT_BASE + 3)) 200)
t_log "replayed $sent datagrams to the restarted node3"
# Wait until every replayed datagram is counted as rejected, or 5 s.
end=$(($(t_now_ms) + 5000))
while [ "$(rejects 3)" -lt $((before + sent)) ] && [ "$(t_now_ms)" -lt "$end" ]; do sleep 0.05; done
t_log "node3 rejects: $(t_field 3 rejected)"
# The dead node1 never came up...
if tail -n +"$((mark + 1))" "$T_DIR/node3/pkvd.log" | grep "node1 up" >/dev/null; then
	t_fail "the restarted node3 took replayed datagrams of the dead node1 for life"
fi
connected_has 3 node1 && t_fail "node3 sees the dead node1 connected"
# ...and nothing replayed was taken (node2's old datagrams neither).
[ "$(rejects 3)" -ge $((before + sent)) ] ||
	t_fail "node3 accepted $((before + sent - $(rejects 3))) replayed datagrams"
t_log "replay to a restarted node: rejected, node1 stays down"

# --- 2. redirect to another receiver ----------------------------------------
t_start 1
for i in 1 2 3; do t_wait_for "node$i sees 3 connected" t_connected_is "$i" 3; done
"$PKV_CAPTURE" record $((T_PORT_BASE + 2)) "$T_DIR/to-node2.cap" 1000 >"$T_DIR/n2" 2>"$T_DIR/cap2.err" &
cap=$!
t_wait_for "capture of node2's traffic" capturing "$T_DIR/cap2.err"
for k in 1 2 3 4 5; do t_pkv -n node1 put -b C "k$k" "v$k" >/dev/null; done
wait "$cap" || t_fail "capture failed"
t_log "recorded $(cat "$T_DIR/n2") datagrams to node2"
before=$(rejects 3)
sent=$("$PKV_CAPTURE" replay "$T_DIR/to-node2.cap" $((T_PORT_BASE + 3)) 0)
t_log "redirected $sent datagrams to node3"
# All of them, not most: wait for the count, then say what was missing.
end=$(($(t_now_ms) + 5000))
while [ "$(rejects 3)" -lt $((before + sent)) ] && [ "$(t_now_ms)" -lt "$end" ]; do sleep 0.05; done
got=$(($(rejects 3) - before))
t_log "node3 rejected $got of $sent: $(t_field 3 rejected)"
[ "$got" -ge "$sent" ] || t_fail "node3 accepted $((sent - got)) datagrams sent to node2"
echo ok
